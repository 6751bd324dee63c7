"""The documents name tests that exist: a renamed or moved test must not leave a dead proof."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
REFERENCE = re.compile(r"`(test_[a-z0-9_]+\.py)::(test_[A-Za-z0-9_]+)`")


@pytest.mark.parametrize("document", ["docs/reliability.md"])
def test_every_named_test_exists(document: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    references = REFERENCE.findall(text)
    assert references, f"{document} names no test"
    missing = [
        f"{file}::{name}"
        for file, name in references
        if not (ROOT / "tests" / file).exists()
        or not re.search(
            rf"^(async )?def {name}\(", (ROOT / "tests" / file).read_text(encoding="utf-8"), re.M
        )
    ]
    assert not missing, missing
