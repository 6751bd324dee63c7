"""The loopback fakes in a process of their own: Telegram Bot API, Gemini, and a control endpoint.

Started by the bench as `python -m bench.fakes_server PAYLOADS_JSON MODEL`; prints one JSON line
with its addresses, then serves until its stdin closes (so it never outlives the bench) or it
gets SIGTERM. Running here, the fakes' CPU never counts against the bot being measured, and they
spend little anyway: photo thumbnails are skipped (neither bot reads them) and the Gemini answer
is rendered once, only its few variant bytes are base64-encoded per request.

Only public hooks of the tests' fakes are used: the Telegram fake's `thumbnailer`, `on_answer`
and `middlewares` options and `forget_file_bytes`, the Gemini fake's `answer_body`.

Every request the fakes serve is timed (arrival, body read, answer), so the bench can subtract
the fakes' own latency from a step's wall time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import itertools
import json
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from PIL import Image

from bench.payloads import jpeg_variant, png_text_chunk
from tests.fakes.gemini import GeminiFake, Reply
from tests.fakes.loopback import serve as serve_app
from tests.fakes.telegram import Call, FakeChat, FakeUser, JSONDict, TelegramFake, Thumbnail

ANSWER_METHODS = frozenset({"sendPhoto", "sendMessage", "sendDocument"})
_JSON_CT = "application/json; charset=UTF-8"
_MARKER = b"BENCH-MARKER"  # 12 bytes: base64 without padding, easy to find and split on


def _small_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (90, 68), (120, 120, 120)).save(buffer, "JPEG")
    return buffer.getvalue()


_THUMB = _small_jpeg()


def header_only_thumbnails(data: bytes) -> tuple[tuple[int, int], list[Thumbnail]]:
    """The photo's size from its header, and one tiny stock JPEG for both thumbnails."""
    # Real thumbnails would cost the fake ~30 ms of CPU per photo; neither bot reads them.
    with Image.open(io.BytesIO(data)) as image:
        size = image.size
    return size, [(_THUMB, 90, 68), (_THUMB, 320, 240)]


class TelegramTimings:
    """Times the Telegram fake through its public hooks; frees what the bot uploads."""

    def __init__(self) -> None:
        self.available: dict[int, float] = {}  # update id -> when it was queued
        self.polls: list[dict[str, Any]] = []  # answered getUpdates: times and update ids
        self.service: list[dict[str, Any]] = []  # other requests: method, arrival, answer
        self.answers: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, replied-to) -> reply
        self.tg = TelegramFake(
            webhook_delivery=False,
            thumbnailer=header_only_thumbnails,
            on_answer=self._on_answer,
            middlewares=(self._time_request,),
        )

    @web.middleware
    async def _time_request(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        t_in = time.monotonic()
        response = await handler(request)
        method = request.match_info.get("method")
        if method is None and request.path.startswith("/file/"):
            method = "download"
        if method is not None and method != "getUpdates":
            self.service.append({"method": method, "t_in": t_in, "t_out": time.monotonic()})
        return response

    def _on_answer(self, call: Call) -> None:
        if not call.ok:
            return
        if call.method == "getUpdates" and call.response:
            self.polls.append(
                {
                    "t_in": call.time,
                    "t_out": time.monotonic(),
                    "updates": [u["update_id"] for u in call.response],
                }
            )
        elif call.method == "sendPhoto":
            # Nobody downloads the bot's uploads: free them (a burst uploads ~300 MB).
            call.files.clear()
            self.tg.forget_file_bytes(call.response["photo"][-1]["file_id"])
            self._record_answer(call)
        elif call.method == "sendMessage":
            self._record_answer(call)

    def _record_answer(self, call: Call) -> None:
        reply = call.params.get("reply_parameters")
        if not isinstance(reply, dict) or "message_id" not in reply:
            return
        key = (int(call.response["chat"]["id"]), int(reply["message_id"]))
        self.answers.setdefault(
            key,
            {
                "method": call.method,
                "t": call.time,  # the fake holds the whole request (body read and parsed)
                "chat": key[0],
                "reply_to": key[1],
                "message_id": call.response["message_id"],
            },
        )

    def queue(self, message: JSONDict) -> JSONDict:
        """Queue the update carrying `message` and note when it became available."""
        update = self.tg.queue_update({"message": message})
        self.available[update["update_id"]] = time.monotonic()
        return update

    async def wait_answers(self, keys: list[tuple[int, int]], timeout: float) -> bool:  # noqa: ASYNC109 - bounded by design
        """Wait until every key has a reply; False on timeout."""
        try:
            await self.tg.wait_for(lambda: all(k in self.answers for k in keys), timeout)
        except TimeoutError:
            return False
        return True


class TimedGemini:
    """A Gemini server that answers every request with one precomputed image answer.

    The body is the tests' fake's own rendering of `Reply.image(png)`; each answer's PNG gets a
    distinct text chunk (as real results are distinct files), spliced into the precomputed
    base64 so only ~60 bytes are encoded per request. Requests are timed, not parsed.
    """

    def __init__(self, png: bytes, model: str) -> None:
        self._model = model
        rendered = GeminiFake().answer_body(Reply.image(_MARKER), model=model)
        self._prefix, self._suffix = rendered.split(base64.b64encode(_MARKER))
        head = (len(png) - 12) // 3 * 3  # split on a 3-byte boundary: base64 concatenates
        self._head_b64 = base64.b64encode(png[:head])
        self._tail, self._iend = png[head:-12], png[-12:]
        self._variants = itertools.count(1)
        self._closing = asyncio.Event()
        self.latency = 0.0
        self.records: list[dict[str, Any]] = []

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/{version}/models/{model_action}", self._handle)
        app.router.add_get("/{version}/models", self._list_models)  # the bot's start-up check
        return app

    async def _list_models(self, request: web.Request) -> web.Response:
        model = {
            "name": f"models/{self._model}",
            "supportedGenerationMethods": ["generateContent"],
        }
        return web.json_response({"models": [model]})

    def close(self) -> None:
        """Wake sleeping requests so the server stops at once."""
        self._closing.set()

    def _answer_body(self) -> bytes:
        tail = self._tail + png_text_chunk(next(self._variants)) + self._iend
        return b"".join((self._prefix, self._head_b64, base64.b64encode(tail), self._suffix))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        t_in = time.monotonic()
        body = await request.read()
        t_read = time.monotonic()
        latency = self.latency
        if latency > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), latency)
        t_wake = time.monotonic()
        response = web.Response(body=self._answer_body(), headers={"Content-Type": _JSON_CT})
        self.records.append(
            {
                "t_in": t_in,
                "t_read": t_read,
                "t_wake": t_wake,
                "t_out": time.monotonic(),
                "latency": latency,
                "bytes": len(body),
                "images": body.count(b'"inline_data"') + body.count(b'"inlineData"'),
            }
        )
        return response


class Control:
    """The bench's remote control: create messages, release updates, wait for answers."""

    def __init__(self, timings: TelegramTimings, gemini: TimedGemini, payloads: dict[str, str]):
        self._timings = timings
        self._tg = timings.tg
        self._gemini = gemini
        self._payloads = {name: Path(path).read_bytes() for name, path in payloads.items()}
        self._variants = itertools.count(1)
        self._people: dict[int, tuple[FakeUser, FakeChat]] = {}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/send", self.send)
        app.router.add_post("/answers", self.answers)
        app.router.add_post("/first_poll", self.first_poll)
        app.router.add_post("/gemini", self.configure_gemini)
        app.router.add_get("/timeline", self.timeline)
        return app

    def _person(self, chat_id: int) -> tuple[FakeUser, FakeChat]:
        found = self._people.get(chat_id)
        if found is None:
            user = self._tg.user(chat_id, f"User {chat_id}", language_code="en")
            found = self._people[chat_id] = (user, self._tg.private_chat(user))
        return found

    async def send(self, request: web.Request) -> web.Response:
        """Create every requested message first, then queue all updates at the same instant."""
        items = (await request.json())["items"]
        created = []
        for item in items:
            user, chat = self._person(int(item["chat"]))
            name = item.get("payload")
            options: dict[str, Any] = {"reply_to": item.get("reply_to"), "deliver": False}
            if name is None:
                options["text"] = item["text"]
            else:
                number = next(self._variants)
                data = self._payloads[name]
                if name.endswith("jpeg") or name == "photo":
                    data = jpeg_variant(data, number)
                options["caption"] = item.get("caption")
                if item.get("document"):
                    is_png = data.startswith(b"\x89PNG")
                    options["document"] = data
                    options["document_mime"] = "image/png" if is_png else "image/jpeg"
                    options["document_name"] = f"upload-{number}.{'png' if is_png else 'jpg'}"
                else:
                    options["photo"] = data
            created.append(self._tg.send_user_message(chat, user, **options))
        released = []
        for message in created:
            update = self._timings.queue(message)
            released.append(
                {
                    "chat": message["chat"]["id"],
                    "message_id": message["message_id"],
                    "update_id": update["update_id"],
                    "t_available": self._timings.available[update["update_id"]],
                }
            )
        return web.json_response({"items": released})

    async def answers(self, request: web.Request) -> web.Response:
        """Wait (bounded) until each (chat, message id) got a reply; return the replies."""
        body = await request.json()
        keys = [(int(chat), int(message)) for chat, message in body["keys"]]
        complete = await self._timings.wait_answers(keys, float(body.get("timeout", 30)))
        found = [self._timings.answers[k] for k in keys if k in self._timings.answers]
        return web.json_response({"complete": complete, "answers": found})

    async def first_poll(self, request: web.Request) -> web.Response:
        """When the first getUpdates since `since` arrived (None on timeout)."""
        body = await request.json()
        since = float(body["since"])

        def first() -> float | None:
            return min(
                (c.time for c in self._tg.calls_of("getUpdates") if c.time >= since), default=None
            )

        try:
            return web.json_response(
                {"t": await self._tg.wait_for(first, float(body.get("timeout", 30)))}
            )
        except TimeoutError:
            return web.json_response({"t": None})

    async def configure_gemini(self, request: web.Request) -> web.Response:
        body = await request.json()
        self._gemini.latency = float(body["latency"])
        return web.json_response({"latency": self._gemini.latency})

    async def timeline(self, request: web.Request) -> web.Response:
        """Everything the fakes timed, from `since` on."""
        since = float(request.query.get("since", "0"))
        return web.json_response(
            {
                "available": {str(k): v for k, v in self._timings.available.items() if v >= since},
                "polls": [p for p in self._timings.polls if p["t_out"] >= since],
                "service": [s for s in self._timings.service if s["t_in"] >= since],
                "gemini": [g for g in self._gemini.records if g["t_in"] >= since],
            }
        )


async def serve(payloads: dict[str, str], png: bytes, model: str) -> None:
    """Run the fakes until stdin closes or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    timings, gemini = TelegramTimings(), TimedGemini(png, model)
    async with timings.tg as tg:
        gemini_runner, gemini_port = await serve_app(gemini.app())
        runner, port = await serve_app(Control(timings, gemini, payloads).app())
        print(
            json.dumps(
                {
                    "token": tg.token,
                    "telegram_api": tg.api_base_url,
                    "telegram_files": tg.file_base_url,
                    "gemini": f"http://127.0.0.1:{gemini_port}",
                    "control": f"http://127.0.0.1:{port}",
                }
            ),
            flush=True,
        )
        # A daemon thread, not to_thread(): asyncio.run would wait for it forever on SIGTERM.
        threading.Thread(
            target=_set_on_eof, args=(loop, stop), name="stdin-watch", daemon=True
        ).start()
        await stop.wait()
        gemini.close()
        await runner.cleanup()
        await gemini_runner.cleanup()


def _set_on_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Block until stdin closes (the bench exited or let go of us), then stop."""
    sys.stdin.buffer.read()
    with contextlib.suppress(RuntimeError):  # the loop already closed
        loop.call_soon_threadsafe(stop.set)


def main() -> None:
    """`python -m bench.fakes_server PAYLOADS_JSON MODEL`."""
    payloads = json.loads(sys.argv[1])
    png = Path(payloads["result"]).read_bytes()
    asyncio.run(serve(payloads, png, sys.argv[2]))


if __name__ == "__main__":
    main()
