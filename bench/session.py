"""What one `python -m bench` invocation runs: sizes per mode, folders, shared results."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.payloads import Payloads, ensure_payloads

BENCH_DIR = Path(__file__).resolve().parent
PAYLOAD_CACHE = Path(tempfile.gettempdir()) / "bananabot-bench-payloads"


@dataclass(frozen=True, slots=True)
class Plan:
    """How much each benchmark does."""

    seq_runs: int  # fresh processes per bot
    seq_warmup: int  # steps not measured after start-up
    seq_steps: int  # measured steps per run
    burst_runs: int
    burst_chats: int
    burst_latency_s: float
    growth_runs: int
    growth_turns: int
    lag_images: int  # ~20 MB images going through at once
    lag_rounds: int  # rounds of those; the worst wake-up over all rounds counts
    startup_runs: int
    store_turns: int
    store_samples: int
    previews_runs: int  # fresh processes per mode (streamed, plain), alternating
    previews_warmup: int
    previews_steps: int  # measured sequential steps per process
    previews_burst_runs: int
    previews_burst_chats: int
    previews_drafts_s: tuple[float, ...]  # when the thought images come (after the request)
    previews_final_s: float  # when the answer comes: the model latency


FULL = Plan(
    seq_runs=3,
    seq_warmup=3,
    seq_steps=20,
    burst_runs=5,  # the floor is bimodal (4-9 s): the median needs a few runs
    burst_chats=200,
    burst_latency_s=2.0,
    growth_runs=2,
    growth_turns=30,
    lag_images=4,
    lag_rounds=3,
    startup_runs=5,
    store_turns=100_000,
    store_samples=2000,
    previews_runs=2,
    previews_warmup=2,
    previews_steps=15,
    previews_burst_runs=3,
    previews_burst_chats=200,
    previews_drafts_s=(2.0, 3.0),
    previews_final_s=3.8,
)
QUICK = Plan(
    seq_runs=1,
    seq_warmup=1,
    seq_steps=2,
    burst_runs=1,
    burst_chats=10,
    burst_latency_s=0.2,
    growth_runs=1,
    growth_turns=5,
    lag_images=2,
    lag_rounds=1,
    startup_runs=1,
    store_turns=2000,
    store_samples=100,
    previews_runs=1,
    previews_warmup=1,
    previews_steps=2,
    previews_burst_runs=1,
    previews_burst_chats=10,
    previews_drafts_s=(0.3, 1.0),
    previews_final_s=2.0,
)


# On a VM whose host backs guest memory on first touch (this machine: Firecracker), a page the
# guest never used costs several times a recycled one: a new 1.5 MB file took 5.0 ms of CPU on
# fresh pages and 1.3 ms on recycled ones (same process, same code). A host that has run for a
# while has no fresh pages, and they would bill whichever bot allocates first, so the session
# writes and deletes this much once before any run (and each run's data dir is deleted after).
WARM_BYTES = 3 << 30


def warm_page_cache(folder: Path, total: int, chunk: int = 16 << 20) -> None:
    """Write `total` bytes of files under `folder` and delete them (recycling their pages)."""
    block = os.urandom(1 << 20) * (chunk >> 20)
    files = [folder / f".warm-{i}" for i in range(total // chunk)]
    for path in files:
        path.write_bytes(block)
    for path in files:
        path.unlink()


@dataclass(slots=True)
class Session:
    """Folders and settings of this invocation; benchmarks leave their figures in `shared`."""

    plan: Plan
    quick: bool
    payloads: Payloads
    workroot: Path
    fixes: str = ""  # bench.whatif prototypes applied to ours ("" = ours as shipped)
    shared: dict[str, Any] = field(default_factory=dict)
    _counter: int = 0

    @classmethod
    def create(cls, quick: bool, fixes: str = "") -> Session:
        workroot = Path(tempfile.mkdtemp(prefix="bananabot-bench-"))
        payloads = ensure_payloads(PAYLOAD_CACHE, quick)
        if not quick:
            warm_page_cache(workroot, WARM_BYTES)
        return cls(QUICK if quick else FULL, quick, payloads, workroot, fixes)

    def workdir(self, name: str) -> Path:
        """A fresh folder for one run (bot data dir, config, logs)."""
        self._counter += 1
        path = self.workroot / f"{self._counter:03d}-{name}"
        path.mkdir(parents=True)
        return path

    def cleanup(self) -> None:
        shutil.rmtree(self.workroot, ignore_errors=True)
