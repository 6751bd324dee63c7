"""The loopback fakes in a process of their own: Telegram Bot API, Gemini, and a control endpoint.

Started by the bench as `python -m bench.fakes_server PAYLOADS_JSON MODEL [webhook]`; prints one
JSON line with its addresses, then serves until its stdin closes (so it never outlives the bench)
or it gets SIGTERM. With `webhook`, the Telegram fake POSTs updates to the URL a bot set with
setWebhook, as Telegram does, instead of only answering getUpdates. Running here, the fakes' CPU
never counts against the bot being measured, and they spend little anyway: photo thumbnails are
skipped (neither bot reads them) and the Gemini answer is rendered once, only its few variant
bytes are base64-encoded per request.

Only public hooks of the tests' fakes are used: the Telegram fake's `thumbnailer`, `on_answer`
and `middlewares` options, `register_method` (with its built-in methods, `BOT_API_METHODS`) and
`forget_file_bytes`, the Gemini fake's `answer_body`, `stream_events` and `draft_png`.

The Telegram fake enforces one flood rule of the real API on top: one edit per chat and second
(a faster edit gets 429 with `retry_after`). Sent photos whose only button is Stop are a step's
draft (live previews), the others its answer.

Gemini streams (`:streamGenerateContent?alt=sse`) are the tests' fake's own events, replayed on
a timeline: with none set, only the final events, after the model latency; with one set (the
live-previews benchmark), thought text at once, thought images at the set times and the final
text and image at the end, as a thinking model streams them.

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
import math
import signal
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from PIL import Image

from bench.payloads import jpeg_variant, png_text_chunk
from bot import messages
from tests.fakes.gemini import GeminiFake, Reply
from tests.fakes.loopback import serve as serve_app
from tests.fakes.telegram import (
    ApiError,
    Call,
    FakeChat,
    FakeUser,
    JSONDict,
    TelegramFake,
    Thumbnail,
)
from tests.fakes.telegram.server import BOT_API_METHODS

ANSWER_METHODS = frozenset({"sendPhoto", "sendMessage", "sendDocument"})
EDIT_METHODS = (
    "editMessageText",
    "editMessageCaption",
    "editMessageMedia",
    "editMessageReplyMarkup",
)
# Calls whose text or caption a user reads.
SHOWN_METHODS = frozenset({*ANSWER_METHODS, *EDIT_METHODS})
EDIT_INTERVAL_S = 1.0  # Telegram: about one edit per chat and second
STOP_LABEL = messages.text("stop_button", "en")  # the fakes' users all speak English
_JSON_CT = "application/json; charset=UTF-8"
_SSE_CT = "text/event-stream"
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


def button_labels(markup: Any) -> list[str]:
    """The labels of an inline keyboard (a decoded `reply_markup`), row by row."""
    if not isinstance(markup, dict):
        return []
    return [str(b.get("text")) for row in markup.get("inline_keyboard", []) for b in row]


def shown_text(call: Call) -> str | None:
    """What a sending or editing call shows the user: its text or caption."""
    for key in ("text", "caption"):
        if isinstance(call.params.get(key), str):
            return str(call.params[key])
    media = call.params.get("media")
    if isinstance(media, dict) and isinstance(media.get("caption"), str):
        return str(media["caption"])
    return None


class EditFlood:
    """Telegram's flood control on edits: a chat's messages are edited at most once a second.

    A faster edit is refused with 429 and `retry_after` (whole seconds, as Telegram sends it).
    Built on `register_method`: each edit method checks the pace, then runs the built-in.
    """

    def __init__(self, tg: TelegramFake, interval: float = EDIT_INTERVAL_S) -> None:
        self._tg = tg
        self._interval = interval
        self._last: dict[int, float] = {}  # chat -> arrival of its last accepted edit
        for method in EDIT_METHODS:
            tg.register_method(method, self._paced(BOT_API_METHODS[method]))

    def _paced(self, builtin: Callable[[Any, Call], Any]) -> Callable[[Call], Any]:
        def edit(call: Call) -> Any:
            chat = int(str(call.params.get("chat_id")))
            last = self._last.get(chat)
            if last is not None and call.time - last < self._interval:
                wait = max(1, math.ceil(self._interval - (call.time - last)))
                raise ApiError(
                    429, f"Too Many Requests: retry after {wait}", {"retry_after": wait}
                )
            result = builtin(self._tg, call)
            self._last[chat] = call.time
            return result

        return edit


class TelegramTimings:
    """Times the Telegram fake through its public hooks; frees what the bot uploads.

    A sendPhoto whose only button is Stop is a step's draft; other replies are its answer.
    """

    def __init__(self, webhook: bool = False) -> None:
        self.available: dict[int, float] = {}  # update id -> when it was queued
        self.polls: list[dict[str, Any]] = []  # answered getUpdates: times and update ids
        self.service: list[dict[str, Any]] = []  # other requests: method, arrival, answer
        self.answers: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, replied-to) -> reply
        self.drafts: dict[tuple[int, int], dict[str, Any]] = {}  # (chat, replied-to) -> first
        self.live_drafts: set[tuple[int, int]] = set()  # (chat, message id) not yet deleted
        self.flood: list[dict[str, Any]] = []  # calls answered 429
        self.shown: dict[int, list[tuple[str, str]]] = defaultdict(list)  # chat -> (method, text)
        self.tg = TelegramFake(
            webhook_delivery=webhook,  # POSTs updates to the URL the bot set (several instances)
            thumbnailer=header_only_thumbnails,
            on_answer=self._on_answer,
            middlewares=(self._time_request,),
        )
        self.edit_flood = EditFlood(self.tg)

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
        if call.status == 429:
            chat = call.params.get("chat_id")
            self.flood.append({"method": call.method, "chat": chat, "t": call.time})
        if not call.ok:
            return
        if call.method in SHOWN_METHODS and isinstance(call.response, dict):
            text = shown_text(call)
            if text is not None:
                self.shown[int(call.response["chat"]["id"])].append((call.method, text))
        if call.method == "getUpdates" and call.response:
            self.polls.append(
                {
                    "t_in": call.time,
                    "t_out": time.monotonic(),
                    "updates": [u["update_id"] for u in call.response],
                }
            )
        elif call.method in ("sendPhoto", "editMessageMedia"):
            # Nobody downloads the bot's uploads: free them (a burst uploads ~300 MB).
            call.files.clear()
            if isinstance(call.response, dict) and "photo" in call.response:
                self.tg.forget_file_bytes(call.response["photo"][-1]["file_id"])
            if call.method == "sendPhoto":
                self._record_answer(call)
        elif call.method == "sendMessage":
            self._record_answer(call)
        elif call.method == "deleteMessage":
            chat, message = call.params.get("chat_id"), call.params.get("message_id")
            self.live_drafts.discard((int(str(chat)), int(str(message))))

    def _record_answer(self, call: Call) -> None:
        reply = call.params.get("reply_parameters")
        if not isinstance(reply, dict) or "message_id" not in reply:
            return
        key = (int(call.response["chat"]["id"]), int(reply["message_id"]))
        buttons = button_labels(call.params.get("reply_markup"))
        record = {
            "method": call.method,
            "t": call.time,  # the fake holds the whole request (body read and parsed)
            "chat": key[0],
            "reply_to": key[1],
            "message_id": call.response["message_id"],
            "buttons": buttons,
        }
        if buttons == [STOP_LABEL]:
            self.drafts.setdefault(key, record)
            self.live_drafts.add((key[0], int(call.response["message_id"])))
        else:
            self.answers.setdefault(key, record)

    def audit(self, chats: Sequence[int]) -> dict[str, Any]:
        """What the bot left in `chats`: live messages (buttons, text) and every text shown."""
        found: dict[str, Any] = {}
        for chat in chats:
            live = [
                {
                    "message_id": m["message_id"],
                    "photo": "photo" in m,
                    "text": m.get("text", m.get("caption", "")),
                    "buttons": button_labels(m.get("reply_markup")),
                }
                for m in self.tg.sent_messages(chat)
            ]
            found[str(chat)] = {"live": live, "shown": self.shown.get(chat, [])}
        return found

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


class VariantPng:
    """The answer PNG in base64, made distinct per image by a text chunk before IEND.

    The head is encoded once; per image only the ~60 bytes after it are (base64 concatenates
    on 3-byte boundaries), so a distinct 1.5 MB image costs the fakes next to nothing.
    """

    def __init__(self, png: bytes) -> None:
        head = (len(png) - 12) // 3 * 3
        self._head_b64 = base64.b64encode(png[:head])
        self._tail, self._iend = png[head:-12], png[-12:]
        self._variants = itertools.count(1)

    def next_b64(self) -> bytes:
        tail = self._tail + png_text_chunk(next(self._variants)) + self._iend
        return self._head_b64 + base64.b64encode(tail)


@dataclass(frozen=True, slots=True)
class Template:
    """A precomputed body with at most one image slot (`suffix` is None: no image)."""

    prefix: bytes
    suffix: bytes | None = None
    image: int = 0  # which of the bodies' images fills the slot

    @classmethod
    def of(cls, body: bytes, placeholders: Sequence[bytes]) -> Template:
        """`body` split around the base64 of whichever of `placeholders` it carries (the n-th
        placeholder stands for image n)."""
        for image, placeholder in enumerate(placeholders):
            encoded = base64.b64encode(placeholder)
            if encoded in body:
                prefix, suffix = body.split(encoded)
                return cls(prefix, suffix, image)
        return cls(body)

    def render(self, pngs: Sequence[VariantPng]) -> bytes:
        if self.suffix is None:
            return self.prefix
        return b"".join((self.prefix, pngs[self.image].next_b64(), self.suffix))


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event of a stream, due `at` seconds after the request was read."""

    at: float
    template: Template
    thought: bool


class TimedGemini:
    """A Gemini server that answers every request with one precomputed image answer.

    The bodies are the tests' fake's own rendering (`answer_body`, `stream_events`) of an
    answer whose final image is the payload PNG and whose thought images are the draft
    payloads, each image a distinct file (as real ones are): see `VariantPng`. Requests are
    timed, not parsed.
    """

    def __init__(self, png: bytes, model: str, drafts: Sequence[bytes]) -> None:
        self._model = model
        self._fake = GeminiFake()
        self._pngs = [VariantPng(image) for image in (png, *drafts)]
        self._plain = Template.of(
            self._fake.answer_body(Reply.image(_MARKER), model=model), [_MARKER]
        )
        self._final_only = self._events(Reply.image(_MARKER))
        self._timeline: list[Event] | None = None  # set: streams think visibly
        self._closing = asyncio.Event()
        self.latency = 0.0
        self.records: list[dict[str, Any]] = []

    def set_timeline(self, drafts: Sequence[float], final: float) -> None:
        """Streams: thought text at once, a thought image at each of `drafts`, the answer at
        `final` (seconds after the request was read); an empty `drafts` and 0 resets."""
        if not drafts and not final:
            self._timeline = None
            return
        self._timeline = self._events(
            Reply.thinking(draft_at=tuple(drafts), final_at=final, png=_MARKER)
        )

    def _events(self, reply: Reply) -> list[Event]:
        placeholders = [_MARKER, self._fake.draft_png(0, 0), self._fake.draft_png(0, 1)]
        return [
            Event(at, Template.of(body, placeholders), b'"thought": true' in body)
            for at, body in self._fake.stream_events(reply, model=self._model)
        ]

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

    async def _until(self, t: float) -> None:
        """Sleep until monotonic time `t`, or until the server closes."""
        delay = t - time.monotonic()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        t_in = time.monotonic()
        body = await request.read()
        t_read = time.monotonic()
        record: dict[str, Any] = {
            "t_in": t_in,
            "t_read": t_read,
            "bytes": len(body),
            "images": body.count(b'"inline_data"') + body.count(b'"inlineData"'),
        }
        if request.match_info["model_action"].endswith(":streamGenerateContent"):
            return await self._stream(request, body, record)
        latency = self.latency
        await self._until(t_read + latency)
        record["t_wake"] = time.monotonic()
        response = web.Response(
            body=self._plain.render(self._pngs), headers={"Content-Type": _JSON_CT}
        )
        self.records.append({**record, "t_out": time.monotonic(), "latency": latency})
        return response

    async def _stream(
        self, request: web.Request, body: bytes, record: dict[str, Any]
    ) -> web.StreamResponse:
        """Replay the stream's events on the timeline (thoughts only when asked for).

        Like the plain answer's latency, the timeline starts once the request has been read.
        """
        t_read = record["t_read"]
        if self._timeline is None:
            events = [replace_at(e, e.at + self.latency) for e in self._final_only]
        else:
            thoughts = b"includeThoughts" in body or b"include_thoughts" in body
            events = [e for e in self._timeline if thoughts or not e.thought]
        response = web.StreamResponse(status=200, headers={"Content-Type": _SSE_CT})
        written: list[float] = []
        first_image: float | None = None
        try:
            await response.prepare(request)
            for event in events:
                await self._until(t_read + event.at)
                if self._closing.is_set():
                    break
                await response.write(event.template.render(self._pngs))
                written.append(time.monotonic())
                if first_image is None and event.thought and event.template.suffix is not None:
                    first_image = written[-1]
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client left (Stop, or the bot shut down)
        t_out = time.monotonic()
        self.records.append(
            {
                **record,
                "t_wake": written[-1] if written else t_out,
                "t_out": t_out,
                "latency": events[-1].at if events else 0.0,
                "stream": True,
                "events": written,
                "first_image": first_image,
            }
        )
        return response


def replace_at(event: Event, at: float) -> Event:
    """`event`, due at another time."""
    return Event(at, event.template, event.thought)


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
        app.router.add_post("/drafts", self.drafts)
        app.router.add_post("/audit", self.audit)
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
        """When the `count`-th call of `method` (default: the first getUpdates) since `since`
        arrived (None on timeout)."""
        body = await request.json()
        since, count = float(body["since"]), int(body.get("count", 1))
        method = str(body.get("method", "getUpdates"))

        def first() -> float | None:
            times = sorted(c.time for c in self._tg.calls_of(method) if c.time >= since)
            return times[count - 1] if len(times) >= count else None

        try:
            return web.json_response(
                {"t": await self._tg.wait_for(first, float(body.get("timeout", 30)))}
            )
        except TimeoutError:
            return web.json_response({"t": None})

    async def configure_gemini(self, request: web.Request) -> web.Response:
        """`latency` of plain answers; `drafts` and `final`: the streams' timeline."""
        body = await request.json()
        if "latency" in body:
            self._gemini.latency = float(body["latency"])
        if "final" in body:
            self._gemini.set_timeline([float(t) for t in body["drafts"]], float(body["final"]))
        return web.json_response({"latency": self._gemini.latency})

    async def drafts(self, request: web.Request) -> web.Response:
        """The first draft of each (chat, message id) that got one."""
        keys = [(int(chat), int(message)) for chat, message in (await request.json())["keys"]]
        found = [self._timings.drafts[k] for k in keys if k in self._timings.drafts]
        return web.json_response({"drafts": found})

    async def audit(self, request: web.Request) -> web.Response:
        """Wait (bounded) until no draft is left in `chats`, then report what the bot left."""
        body = await request.json()
        chats = {int(chat) for chat in body["chats"]}
        live = self._timings.live_drafts
        try:
            await self._tg.wait_for(
                lambda: not any(chat in chats for chat, _ in live),
                float(body.get("timeout", 30)),
            )
            complete = True
        except TimeoutError:
            complete = False
        return web.json_response(
            {"complete": complete, "chats": self._timings.audit(sorted(chats))}
        )

    async def timeline(self, request: web.Request) -> web.Response:
        """Everything the fakes timed, from `since` on."""
        since = float(request.query.get("since", "0"))
        return web.json_response(
            {
                "available": {str(k): v for k, v in self._timings.available.items() if v >= since},
                "polls": [p for p in self._timings.polls if p["t_out"] >= since],
                "service": [s for s in self._timings.service if s["t_in"] >= since],
                "gemini": [g for g in self._gemini.records if g["t_in"] >= since],
                "flood": [f for f in self._timings.flood if f["t"] >= since],
            }
        )


async def serve(
    payloads: dict[str, str],
    png: bytes,
    drafts: Sequence[bytes],
    model: str,
    webhook: bool = False,
) -> None:
    """Run the fakes until stdin closes or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    timings, gemini = TelegramTimings(webhook), TimedGemini(png, model, drafts)
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
    """`python -m bench.fakes_server PAYLOADS_JSON MODEL [webhook]`."""
    payloads = json.loads(sys.argv[1])
    png, *drafts = (Path(payloads[name]).read_bytes() for name in ("result", "draft1", "draft2"))
    webhook = sys.argv[3:4] == ["webhook"]
    asyncio.run(serve(payloads, png, drafts, sys.argv[2], webhook))


if __name__ == "__main__":
    main()
