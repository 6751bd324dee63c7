"""The loopback fakes in a process of their own: Telegram Bot API, Gemini, and a control endpoint.

Started by the bench as `python -m bench.fakes_server PAYLOADS_JSON MODEL`; prints one JSON line
with its addresses, then serves until its stdin closes (so it never outlives the bench) or it
gets SIGTERM. Running here, the fakes' CPU never counts against the bot being measured, and they
spend little anyway: photo thumbnails are skipped (neither bot reads them) and the Gemini answer
is rendered once, only its few variant bytes are base64-encoded per request.

Every request the fakes serve is timed (arrival, body read, answer), so the bench can subtract
the fakes' own latency from a step's wall time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import io
import itertools
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from PIL import Image

from bench.payloads import jpeg_variant, png_text_chunk
from tests.fakes.gemini import GeminiFake, RecordedRequest, Reply
from tests.fakes.loopback import serve as serve_app
from tests.fakes.telegram import Call, FakeChat, FakeUser, JSONDict, TelegramFake

ANSWER_METHODS = frozenset({"sendPhoto", "sendMessage", "sendDocument"})
_JSON_CT = "application/json; charset=UTF-8"
_MARKER = b"BENCH-MARKER"  # 12 bytes: base64 without padding, easy to find and split on


def _small_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (90, 68), (120, 120, 120)).save(buffer, "JPEG")
    return buffer.getvalue()


class BenchTelegramFake(TelegramFake):
    """The tests' Telegram fake, timed, without thumbnail work, forgetting uploaded bytes."""

    def __init__(self) -> None:
        super().__init__(webhook_delivery=False)
        self._thumb = _small_jpeg()
        self.available: dict[int, float] = {}  # update id -> when it was queued
        self.polls: list[dict[str, Any]] = []  # answered getUpdates: times and update ids
        self.service: list[dict[str, Any]] = []  # other requests: method, arrival, answer
        self.answers: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, replied-to id) -> reply

    def _store_photo(self, data: bytes) -> list[JSONDict]:
        # Header only: the real thumbnails would cost the fake ~30 ms of CPU per photo.
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
        sizes: list[JSONDict] = []
        for blob, w, h in ((self._thumb, 90, 68), (self._thumb, 320, 240), (data, width, height)):
            stored = self._new_file(blob, "photos", "jpg", "AgAC")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": stored.file_size,
                    "width": w,
                    "height": h,
                }
            )
        for size in sizes:
            self._photo_groups[size["file_id"]] = sizes
        return [dict(size) for size in sizes]

    def queue_update(self, update: JSONDict) -> JSONDict:
        queued = super().queue_update(update)
        self.available[queued["update_id"]] = time.monotonic()
        return queued

    async def _get_updates(self, call: Call) -> list[JSONDict]:
        batch = await super()._get_updates(call)
        if batch:
            self.polls.append(
                {
                    "t_in": call.time,
                    "t_out": time.monotonic(),
                    "updates": [u["update_id"] for u in batch],
                }
            )
        return batch

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        t_in = time.monotonic()
        response = await super()._handle_method(request)
        method = request.match_info.get("method", "")
        if method != "getUpdates":
            self.service.append({"method": method, "t_in": t_in, "t_out": time.monotonic()})
        return response

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        t_in = time.monotonic()
        response = await super()._handle_file(request)
        self.service.append({"method": "download", "t_in": t_in, "t_out": time.monotonic()})
        return response

    def _send_photo(self, call: Call) -> JSONDict:
        result = super()._send_photo(call)
        # Nobody downloads the bot's uploads: free them (a burst uploads ~300 MB).
        call.files.clear()
        largest = result["photo"][-1]["file_id"]
        self._files[largest] = dataclasses.replace(self._files[largest], data=b"")
        self._record_answer(call, result)
        return result

    def _send_message(self, call: Call) -> JSONDict:
        result = super()._send_message(call)
        self._record_answer(call, result)
        return result

    def _record_answer(self, call: Call, result: JSONDict) -> None:
        reply = call.params.get("reply_parameters")
        if not isinstance(reply, dict) or "message_id" not in reply:
            return
        key = (int(result["chat"]["id"]), int(reply["message_id"]))
        self.answers.setdefault(
            key,
            {
                "method": call.method,
                "t": call.time,  # the fake holds the whole request (body read and parsed)
                "chat": key[0],
                "reply_to": key[1],
                "message_id": result["message_id"],
            },
        )

    async def wait_answers(self, keys: list[tuple[int, int]], timeout: float) -> bool:  # noqa: ASYNC109 - bounded by design
        """Wait until every key has a reply; False on timeout."""
        missing = set(keys)

        def done(_tg: TelegramFake) -> bool:
            missing.difference_update([k for k in missing if k in self.answers])
            return not missing

        try:
            await self.wait_for(done, timeout)
        except AssertionError:
            return False
        return True


class BenchGeminiFake(GeminiFake):
    """A Gemini fake that answers every request with one precomputed image answer.

    The body is the tests' fake's own rendering of `Reply.image(png)`; each answer's PNG gets a
    distinct text chunk (as real results are distinct files), spliced into the precomputed
    base64 so the fake re-encodes only ~60 bytes per request.
    """

    def __init__(self, png: bytes, model: str) -> None:
        super().__init__()
        probe = RecordedRequest(
            model=model,
            api_version="v1beta",
            action="generateContent",
            headers={},
            raw={},
            contents=[],
            generation_config=None,
        )
        rendered = self._render(Reply.image(_MARKER), probe, 0).body
        assert isinstance(rendered, bytes)
        self._prefix, self._suffix = rendered.split(base64.b64encode(_MARKER))
        head = (len(png) - 12) // 3 * 3  # split on a 3-byte boundary: base64 concatenates
        self._head_b64 = base64.b64encode(png[:head])
        self._tail, self._iend = png[head:-12], png[-12:]
        self._variants = itertools.count(1)
        self.records: list[dict[str, Any]] = []

    def _answer_body(self) -> bytes:
        tail = self._tail + png_text_chunk(next(self._variants)) + self._iend
        return b"".join((self._prefix, self._head_b64, base64.b64encode(tail), self._suffix))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        t_in = time.monotonic()
        body = await request.read()
        t_read = time.monotonic()
        latency = self.latency
        await self._sleep(latency)
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

    def __init__(self, tg: BenchTelegramFake, gemini: BenchGeminiFake, payloads: dict[str, str]):
        self._tg = tg
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
            update = self._tg.queue_update({"message": message})
            released.append(
                {
                    "chat": message["chat"]["id"],
                    "message_id": message["message_id"],
                    "update_id": update["update_id"],
                    "t_available": self._tg.available[update["update_id"]],
                }
            )
        return web.json_response({"items": released})

    async def answers(self, request: web.Request) -> web.Response:
        """Wait (bounded) until each (chat, message id) got a reply; return the replies."""
        body = await request.json()
        keys = [(int(chat), int(message)) for chat, message in body["keys"]]
        complete = await self._tg.wait_answers(keys, float(body.get("timeout", 30)))
        found = [self._tg.answers[k] for k in keys if k in self._tg.answers]
        return web.json_response({"complete": complete, "answers": found})

    async def first_poll(self, request: web.Request) -> web.Response:
        """When the first getUpdates since `since` arrived (None on timeout)."""
        body = await request.json()
        since = float(body["since"])

        def polled(tg: TelegramFake) -> bool:
            return any(c.time >= since for c in tg.calls_of("getUpdates"))

        try:
            await self._tg.wait_for(polled, float(body.get("timeout", 30)))
        except AssertionError:
            return web.json_response({"t": None})
        first = min(c.time for c in self._tg.calls_of("getUpdates") if c.time >= since)
        return web.json_response({"t": first})

    async def configure_gemini(self, request: web.Request) -> web.Response:
        body = await request.json()
        self._gemini.latency = float(body["latency"])
        return web.json_response({"latency": self._gemini.latency})

    async def timeline(self, request: web.Request) -> web.Response:
        """Everything the fakes timed, from `since` on."""
        since = float(request.query.get("since", "0"))
        return web.json_response(
            {
                "available": {str(k): v for k, v in self._tg.available.items() if v >= since},
                "polls": [p for p in self._tg.polls if p["t_out"] >= since],
                "service": [s for s in self._tg.service if s["t_in"] >= since],
                "gemini": [g for g in self._gemini.records if g["t_in"] >= since],
            }
        )


async def serve(payloads: dict[str, str], png: bytes, model: str) -> None:
    """Run the fakes until stdin closes or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with BenchTelegramFake() as tg, BenchGeminiFake(png, model) as gemini:
        runner, port = await serve_app(Control(tg, gemini, payloads).app())
        print(
            json.dumps(
                {
                    "token": tg.token,
                    "telegram_api": tg.api_base_url,
                    "telegram_files": tg.file_base_url,
                    "gemini": gemini.base_url,
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
        await runner.cleanup()


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
