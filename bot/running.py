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
    """The calls of this process; a step is registered for exactly as long as its call runs."""

    def __init__(self) -> None:
        self._by_turn: dict[int, RunningCall] = {}

    @contextmanager
    def register(
        self, user_turn_id: int, chat: ChatKey, author_id: str, task: asyncio.Task[Any]
    ) -> Iterator[RunningCall]:
        """Make `task` stoppable as the call answering `user_turn_id` while the block runs."""
        call = RunningCall(chat, author_id, task)
        self._by_turn[user_turn_id] = call
        try:
            yield call
        finally:
            if self._by_turn.get(user_turn_id) is call:
                del self._by_turn[user_turn_id]

    def find(self, user_turn_id: int, chat: ChatKey) -> RunningCall | None:
        """The running call for `user_turn_id`, if it runs in `chat`."""
        call = self._by_turn.get(user_turn_id)
        if call is None or (call.chat.platform, call.chat.chat_id) != (
            chat.platform,
            chat.chat_id,
        ):
            return None
        return call
