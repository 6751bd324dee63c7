"""Prototypes of performance fixes, applied in the bot's process only (`--whatif NAME,...`).

`python -m bench --whatif a,b` runs "ours" as `python -m bench.traced_bot` with the named
patches applied (BENCH_WHATIF), so a proposed change comes with a measured effect before anyone
edits bot/ or adapters/. Add a patch as a function below and register it in FIXES.

The prototypes measured for issue 6 (a single paced chat-action pump, a bound on photo uploads,
a 64-connection pool, not base64-encoding result images in `_dump_part`, a 1/8-scale JPEG
decode check, trusting Telegram-encoded photos, a 2048 px / 3 MB input bound) have landed in
the product; bench/FINDINGS.md records what each one bought.
"""

from __future__ import annotations

from collections.abc import Callable

FIXES: dict[str, Callable[[], None]] = {}


def apply(names: str) -> None:
    """Apply the comma-separated fixes."""
    for name in filter(None, (n.strip() for n in names.split(","))):
        FIXES[name]()
