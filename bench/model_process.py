"""What-if prototype: google-genai in a second process, so its JSON and base64 use the second core.

`python -m bench --whatif model_process` replaces `GeminiImageModel.generate` in the bot with a
proxy that sends the context plan (with its image bytes, loaded in the bot) to one child process
running the real `GeminiImageModel`, and gets the `ModelAnswer` (or the `ModelError`) back.
Frames are length-prefixed pickles over a Unix socket pair. A prototype to measure, not a
product: no restart of a dead child, no cancellation across the socket.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import pickle
import socket
import struct
from collections.abc import Sequence
from typing import Any

import bot.model
from bot.config import GeminiSettings
from bot.lineage import ContextTurn, ImageRef
from bot.model import GenerationSettings, ImageLoader, ModelAnswer, OnThought

_HEADER = struct.Struct("!Q")


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    return pickle.loads(await reader.readexactly(size))


def _frame(value: Any) -> bytes:
    data = pickle.dumps(value, protocol=5)
    return _HEADER.pack(len(data)) + data


def _child(sock: socket.socket, settings: GeminiSettings) -> None:
    asyncio.run(_serve(sock, settings))


async def _serve(sock: socket.socket, settings: GeminiSettings) -> None:
    model = _REAL_CLASS(settings)
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    tasks: set[asyncio.Task[None]] = set()

    async def answer(
        job: int, turns: Sequence[ContextTurn], images: dict[ImageRef, bytes], wanted: Any
    ) -> None:
        async def load(ref: ImageRef) -> bytes:
            return images[ref]

        try:
            result: Any = await _REAL_GENERATE(model, turns, load, wanted)
        except Exception as exc:  # the proxy re-raises it in the bot
            result = exc
        writer.write(_frame((job, result)))

    while True:
        try:
            job, turns, images, wanted = await _read_frame(reader)
        except asyncio.IncompleteReadError:
            return
        task = asyncio.create_task(answer(job, turns, images, wanted))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


class _Proxy:
    def __init__(self, settings: GeminiSettings) -> None:
        self._settings = settings
        self._jobs = itertools.count()
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._started: asyncio.Task[None] | None = None

    async def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        context = multiprocessing.get_context("spawn")
        child = context.Process(target=_child, args=(theirs, self._settings), daemon=True)
        child.start()
        theirs.close()
        reader, self._writer = await asyncio.open_unix_connection(sock=ours)
        asyncio.get_running_loop().create_task(self._receive(reader))

    async def _receive(self, reader: asyncio.StreamReader) -> None:
        while True:
            job, result = await _read_frame(reader)
            future = self._waiting.pop(job)
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def generate(
        self, turns: Sequence[ContextTurn], load: ImageLoader, wanted: GenerationSettings
    ) -> ModelAnswer:
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        await asyncio.shield(self._started)
        refs = {p.image for t in turns for p in t.parts if p.image is not None}
        images = {ref: await load(ref) for ref in refs}
        job = next(self._jobs)
        future: asyncio.Future[ModelAnswer] = asyncio.get_running_loop().create_future()
        self._waiting[job] = future
        assert self._writer is not None
        self._writer.write(_frame((job, tuple(turns), images, wanted)))
        del images
        return await future


_REAL_CLASS = bot.model.GeminiImageModel
_REAL_GENERATE = bot.model.GeminiImageModel.generate
_PROXIES: dict[int, _Proxy] = {}


def install() -> None:
    """Route every `GeminiImageModel.generate` in this process through one child process."""

    async def generate(
        self: bot.model.GeminiImageModel,
        turns: Sequence[ContextTurn],
        load: ImageLoader,
        wanted: GenerationSettings,
        on_thought: OnThought | None = None,
    ) -> ModelAnswer:
        if on_thought is not None:  # streamed calls (live previews) stay in this process
            return await _REAL_GENERATE(self, turns, load, wanted, on_thought)
        proxy = _PROXIES.get(id(self))
        if proxy is None:
            proxy = _PROXIES[id(self)] = _Proxy(self._settings)
        return await proxy.generate(turns, load, wanted)

    bot.model.GeminiImageModel.generate = generate  # type: ignore[method-assign]
