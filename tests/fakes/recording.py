"""What every fake shares: its recorded calls, one bounded `wait_for`, and scripted failures.

A fake records each request it serves in a `CallLog` and calls `changed()` whenever its state
moves (a call arrives or is answered, an update is queued, a file is downloaded...). Tests then
wait on conditions, never on time::

    reply = await tg.wait_for(lambda: tg.message(chat, 7))   # the value, once truthy
    await dc.wait_for(lambda: len(dc.calls) >= 3, timeout=5)  # or just a condition

`wait_for(condition, timeout=...)` re-checks the zero-argument `condition` after every change and
returns its first truthy value; after `timeout` seconds it raises `TimeoutError` naming the
condition and the fake's most recent calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

C = TypeVar("C")
F = TypeVar("F")
T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
RECENT_CALLS = 20  # how many calls a timeout message lists


class CallLog(Generic[C]):
    """The calls one fake recorded, and waits that wake whenever the fake's state changes."""

    def __init__(self, describe: Callable[[C], str]) -> None:
        self.calls: list[C] = []
        self._describe = describe
        # Futures, not an asyncio.Condition: `changed()` must work from plain (non-async)
        # helpers such as `tg.send_user_message`, which hold no lock.
        self._waiters: set[asyncio.Future[None]] = set()

    def record(self, call: C) -> C:
        """Append `call` and wake the waiters."""
        self.calls.append(call)
        self.changed()
        return call

    def changed(self) -> None:
        """Wake every waiter so it re-checks its condition."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_until(self, predicate: Callable[[], object], seconds: float) -> bool:
        """Wait at most `seconds` for `predicate()` to hold; say whether it did (no raise)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return bool(predicate())
            await self._next_change(remaining)
        return True

    async def wait_for(
        self,
        condition: Callable[[], T | Literal[False] | None],
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - bounded by design, re-checked on change
    ) -> T:
        """Return `condition()`'s first truthy value; `TimeoutError` after `timeout` seconds."""
        found: list[T] = []

        def check() -> bool:
            value = condition()
            if value:
                found.append(value)
                return True
            return False

        if await self.wait_until(check, timeout):
            return found[-1]
        raise TimeoutError(
            f"{_name(condition)} not met within {timeout}s; recent calls: {self.recent()}"
        )

    def recent(self, count: int = RECENT_CALLS) -> str:
        """The last `count` calls, described, oldest first ("none" when there are none)."""
        return ", ".join(self._describe(c) for c in self.calls[-count:]) or "none"

    async def _next_change(self, seconds: float) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            async with asyncio.timeout(seconds):
                await waiter
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)


def _name(condition: Callable[..., object]) -> str:
    """Where a condition was written, so a timeout points at the test line."""
    code = getattr(condition, "__code__", None)
    if code is None:
        return f"condition {condition!r}"
    return f"condition at {Path(code.co_filename).name}:{code.co_firstlineno}"


@dataclass
class _Scripted(Generic[C, F]):
    matches: Callable[[C], bool]
    failure: F
    times: int


class FailureScript(Generic[C, F]):
    """Scripted API errors: each answers the next `times` calls it matches, oldest script first."""

    def __init__(self) -> None:
        self._scripts: list[_Scripted[C, F]] = []

    def add(self, matches: Callable[[C], bool], failure: F, times: int = 1) -> None:
        """Answer the next `times` calls for which `matches(call)` holds with `failure`."""
        self._scripts.append(_Scripted(matches, failure, times))

    def take(self, call: C) -> F | None:
        """The failure scripted for `call`, used up once; None when the call goes through."""
        for script in self._scripts:
            if script.matches(call):
                script.times -= 1
                if script.times <= 0:
                    self._scripts.remove(script)
                return script.failure
        return None

    def __len__(self) -> int:
        return len(self._scripts)
