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


def _model_process() -> None:
    from bench import model_process  # noqa: PLC0415 - only this experiment pays for it

    model_process.install()


FIXES["model_process"] = _model_process


def _gated_pool(size: int) -> Callable[[], None]:
    def apply_gate() -> None:
        # Every Bot API request waits for one of `size` slots before it reaches httpcore, and
        # the pool holds `size` connections: nothing queues inside httpcore, whose pool scan
        # polls every idle connection on every request start and end.
        import asyncio  # noqa: PLC0415
        from typing import Any  # noqa: PLC0415

        from telegram.request import HTTPXRequest  # noqa: PLC0415

        from adapters.telegram import adapter  # noqa: PLC0415

        adapter.CONNECTION_POOL = size
        original = HTTPXRequest.do_request
        gates: dict[int, asyncio.Semaphore] = {}

        async def do_request(self: HTTPXRequest, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
            gate = gates.setdefault(id(self), asyncio.Semaphore(size))
            async with gate:
                return await original(self, *args, **kwargs)

        HTTPXRequest.do_request = do_request  # type: ignore[method-assign]

    return apply_gate


FIXES["gate16"] = _gated_pool(16)
FIXES["gate32"] = _gated_pool(32)


def _switch_interval() -> None:
    # A thread waiting for the GIL forces a switch after this long (CPython's default: 5 ms).
    import sys  # noqa: PLC0415

    sys.setswitchinterval(0.0005)


FIXES["switch05"] = _switch_interval

