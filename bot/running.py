"""Model calls in flight, by user turn, so that Stop can find and cancel one.

Stop pressed on another instance (behind a load balancer, any instance receives the press)
is a shared mark, `stop_mark(turn)`: while calls run here, their marks are looked for every
`STOP_POLL_S`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bot.coordination import Coordination
from bot.request import ChatKey

log = logging.getLogger(__name__)

STOP_POLL_S = 0.5  # how soon a Stop pressed on another instance stops the call here


def stop_mark(user_turn_id: int) -> str:
    """The shared mark asking the instance that runs `user_turn_id` to stop it."""
    return f"stop:{user_turn_id}"


@dataclass(slots=True)
class RunningCall:
    """One step's model call: queued for a slot, or talking to the model."""

    chat: ChatKey
    author_id: str
    task: asyncio.Task[Any]
    stopped: bool = False

    def stop(self) -> None:
        """Cancel the call: it leaves the queue, or its HTTP connection is closed at once."""
        self.stopped = True
        self.task.cancel()


class RunningCalls:
    """The calls of this process, by the user turn they answer (Variations run several)."""

    def __init__(self, coordination: Coordination | None = None) -> None:
        self._by_turn: dict[int, list[RunningCall]] = {}
        # Only a shared store can carry a Stop pressed elsewhere.
        self._coordination = coordination if coordination and coordination.shared else None
        self._watcher: asyncio.Task[None] | None = None

    @contextmanager
    def register(
        self, user_turn_id: int, chat: ChatKey, author_id: str, task: asyncio.Task[Any]
    ) -> Iterator[RunningCall]:
        """Make `task` stoppable as a call answering `user_turn_id` while the block runs."""
        call = RunningCall(chat, author_id, task)
        self._by_turn.setdefault(user_turn_id, []).append(call)
        if self._coordination is not None and (self._watcher is None or self._watcher.done()):
            self._watcher = asyncio.create_task(
                self._watch(self._coordination), name="remote-stops"
            )
        try:
            yield call
        finally:
            calls = self._by_turn[user_turn_id]
            calls.remove(call)
            if not calls:
                del self._by_turn[user_turn_id]

    def find(self, user_turn_id: int, chat: ChatKey) -> list[RunningCall]:
        """The running calls answering `user_turn_id` in `chat`."""
        where = (chat.platform, chat.chat_id)
        return [
            call
            for call in self._by_turn.get(user_turn_id, ())
            if (call.chat.platform, call.chat.chat_id) == where
        ]

    async def _watch(self, coordination: Coordination) -> None:
        """Stop the calls here that a Stop on another instance asked to stop."""
        while self._by_turn:
            await asyncio.sleep(STOP_POLL_S)
            names = {stop_mark(turn): turn for turn in self._by_turn}
            try:
                found = await coordination.marks(list(names))
                for name in found:
                    for call in list(self._by_turn.get(names[name], ())):
                        call.stop()
                    await coordination.set_mark(name, None)
            except Exception:
                log.warning("could not look for Stops pressed elsewhere", exc_info=True)
