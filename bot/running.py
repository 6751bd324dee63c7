"""Model calls in flight, by user turn, so that Stop can find and cancel one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bot.request import ChatKey


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

    def __init__(self) -> None:
        self._by_turn: dict[int, list[RunningCall]] = {}

    @contextmanager
    def register(
        self, user_turn_id: int, chat: ChatKey, author_id: str, task: asyncio.Task[Any]
    ) -> Iterator[RunningCall]:
        """Make `task` stoppable as a call answering `user_turn_id` while the block runs."""
        call = RunningCall(chat, author_id, task)
        self._by_turn.setdefault(user_turn_id, []).append(call)
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
