"""``POST /{version}/models/{model}:streamGenerateContent?alt=sse`` as Gemini streams it.

Wire format (what google-genai 3.6 parses): status 200, ``Content-Type: text/event-stream``,
then one event per chunk, ``data: <GenerateContentResponse JSON>\\r\\n\\r\\n``. Every chunk is
a whole response object: ``candidates[0].content`` (role ``model``) holds only the parts that
are NEW in this chunk; ``modelVersion`` and ``responseId`` (the same for every chunk of one
answer) are on each chunk; earlier chunks carry a prompt-only ``usageMetadata``, the last one
the full usage plus ``finishReason`` (and ``groundingMetadata`` for search requests).

How an answer is split, like the API does:

- each thought text (``"thought": true``) in its own chunk; each thought image (a whole
  ``inlineData`` part, never partial) in its own chunk. Thoughts are only streamed when the
  request sets ``thinkingConfig.includeThoughts`` (either key case) and the model thinks
  (``GeminiFake(gemini3=True)`` or ``Reply.thinking``);
- the final text in (at least) two fragments, one chunk each, its ``thoughtSignature`` on the
  FIRST fragment only; then the final image with its own signature, finishing the stream.

Assembly rule a client must use: concatenate the parts of all chunks in order, then merge
consecutive text fragments with the same ``thought`` flag into one part (texts joined) unless
both fragments carry a signature; a merged part keeps the signature of its one signed fragment.
Assembled this way, a stream's parts equal the non-streamed answer's parts (signatures and
``responseId`` apart, which are fresh per answer).

Errors the API rejects up front (scripted error replies, bad keys, bad signatures) are plain
HTTP errors before any event. Errors after the stream started are an event
``data: {"error": {"code": ..., "message": ..., "status": ...}}`` and the end of the stream
(google-genai raises ``errors.ServerError``/``ClientError`` for it); ``Reply.drop()`` instead
closes the connection without the final empty chunk (google-genai lets
``aiohttp.ClientPayloadError`` through).

When the fake closes mid-stream, the stream ends with a 503 error event (a plain request that
is still waiting gets an HTTP 503, as before).

aiohttp tells a handler nothing when its client goes away, so while a stream waits (between
drafts, in ``hold``, for a ``release``) a ``ClientWatch`` polls the transport and records
``disconnected_after`` within ``POLL_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from tests.fakes.gemini.records import RecordedRequest
from tests.fakes.gemini.rendering import Answer, AnswerPart, AnswerRendering
from tests.fakes.gemini.replies import Reply
from tests.fakes.recording import CallLog

SSE_CT = "text/event-stream"

POLL_S = 0.05  # how often a waiting stream checks whether its client is still there

Due = Literal["due", "closing", "gone"]


class ClientWatch:
    """Notices when the client of one request goes away, and records when."""

    def __init__(
        self,
        request: web.Request,
        rec: RecordedRequest,
        arrived: float,
        log: CallLog[RecordedRequest],
    ) -> None:
        self._request = request
        self._rec = rec
        self._arrived = arrived
        self._log = log

    def elapsed(self) -> float:
        """Seconds since the request arrived (loop time)."""
        return asyncio.get_running_loop().time() - self._arrived

    def gone(self) -> bool:
        """Whether the client has closed the connection (noted in the record)."""
        transport = self._request.transport
        if transport is None or transport.is_closing():
            self.note_gone()
        return self._rec.disconnected_after is not None

    def note_gone(self) -> None:
        """Record the first moment the client was seen gone."""
        if self._rec.disconnected_after is None:
            self._rec.disconnected_after = self.elapsed()
            self._log.changed()

    async def wait_gone(self) -> None:
        """Return once the client has gone."""
        # Polling, because aiohttp offers no event for it (see the module docstring).
        while not self.gone():  # noqa: ASYNC110
            await asyncio.sleep(POLL_S)

    async def wait_until(
        self, at: float | None, closing: asyncio.Event, release: asyncio.Event | None = None
    ) -> Due:
        """Wait until ``at`` seconds after arrival (None: forever) and ``release`` (if any) is
        set, unless the fake closes or the client leaves first. "due" is never early, so
        recorded chunk times are always >= their scripted times."""
        while True:
            if closing.is_set():
                return "closing"
            if self.gone():
                return "gone"
            timeout = None if at is None else at - self.elapsed()
            awaiting_release = False
            if timeout is not None and timeout <= 0:
                if release is None or release.is_set():
                    return "due"
                timeout, awaiting_release = None, True  # the time has come, not the release
            tasks = [
                asyncio.ensure_future(closing.wait()),
                asyncio.ensure_future(self.wait_gone()),
            ]
            if awaiting_release and release is not None:
                tasks.append(asyncio.ensure_future(release.wait()))
            try:
                await asyncio.wait(tasks, timeout=timeout, return_when="FIRST_COMPLETED")
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class Chunk:
    """The parts one event carries, and when it is due (seconds after arrival)."""

    at: float
    parts: list[AnswerPart]


def split_text(text: str) -> list[str]:
    """Two fragments, cut before the space nearest the middle (or mid-word); texts shorter
    than two characters stay whole."""
    if len(text) < 2:
        return [text]
    middle = len(text) // 2
    spaces = [i for i, c in enumerate(text) if c == " " and i > 0]
    cut = min(spaces, key=lambda i: abs(i - middle)) if spaces else middle
    return [text[:cut], text[cut:]]


def plan(answer: Answer) -> tuple[list[Chunk], list[Chunk]]:
    """The thought chunks (each at its own time) and the final chunks (all at ``final_at``)."""
    thoughts = [Chunk(p.at, [p]) for p in answer.thoughts]
    final: list[Chunk] = []
    for part in answer.final:
        text = part.json.get("text")
        if not isinstance(text, str):
            final.append(Chunk(answer.final_at, [part]))
            continue
        for n, fragment in enumerate(split_text(text)):
            # The signature belongs to the first fragment only (what the API does).
            fields = part.json if n == 0 else _unsigned(part.json)
            final.append(Chunk(answer.final_at, [AnswerPart({**fields, "text": fragment})]))
    # Something must carry the finish reason, even an answer without parts.
    return thoughts, final or [Chunk(answer.final_at, [])]


def _unsigned(part: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in part.items() if k != "thoughtSignature"}


def sse_event(body: dict[str, Any]) -> bytes:
    """One event on the wire: ``data: <JSON>`` and a blank line."""
    return b"data: " + json.dumps(body).encode() + b"\r\n\r\n"


class SseStream:
    """One event-stream response: writes events and records what went out, and when."""

    def __init__(
        self, request: web.Request, rec: RecordedRequest, watch: ClientWatch, log: CallLog[Any]
    ) -> None:
        self.response = web.StreamResponse(status=200, headers={"Content-Type": SSE_CT})
        self._request = request
        self._rec = rec
        self._watch = watch
        self._log = log
        self._sent = bytearray()

    async def open(self) -> bool:
        """Send the headers; False when the client is already gone."""
        try:
            await self.response.prepare(self._request)
        except ConnectionResetError:
            self._watch.note_gone()
            return False
        self._rec.response_status = 200
        self._rec.response_body = b""
        self._log.changed()
        return True

    async def send(self, body: dict[str, Any], images: Iterable[bytes] = ()) -> bool:
        """Write one event; False (and the disconnect recorded) when the client is gone."""
        data = sse_event(body)
        try:
            await self.response.write(data)
        except ConnectionResetError:
            self._watch.note_gone()
            return False
        self._sent += data
        self._rec.response_body = bytes(self._sent)
        self._rec.chunks.append(body)
        self._rec.chunk_times.append(self._watch.elapsed())
        self._rec.response_images.extend(images)
        self._log.changed()
        return True

    async def end(self) -> web.StreamResponse:
        """Finish the stream properly (the last, empty HTTP chunk)."""
        with contextlib.suppress(ConnectionResetError):
            await self.response.write_eof()
        return self.response

    def drop(self) -> web.StreamResponse:
        """Close the connection mid-stream, without the last empty HTTP chunk."""
        transport = self._request.transport
        if transport is not None:
            transport.close()
        return self.response


class AnswerStreaming(AnswerRendering):
    """Streams replies for ``GeminiFake``: the state it needs is declared here."""

    _closing: asyncio.Event
    _log: CallLog[RecordedRequest]

    async def _stream(
        self,
        reply: Reply,
        rec: RecordedRequest,
        index: int,
        request: web.Request,
        watch: ClientWatch,
    ) -> web.StreamResponse | None:
        """Answer ``reply`` (a normal answer, a finish or a blocked prompt) as an event stream.

        None when the client left before anything could be sent.
        """
        sse = SseStream(request, rec, watch, self._log)
        if not await sse.open():
            return None
        if reply.kind in ("finish", "blocked"):
            await sse.send(self._wire(self._envelope(rec, self._body(reply, rec))))
            return await sse.end()

        answer = self._answer(reply, rec, index, show_thoughts=rec.include_thoughts)
        thoughts, final = plan(answer)
        for chunk in thoughts:
            due = await watch.wait_until(chunk.at, self._closing)
            if due != "due":
                return await self._cut(sse, due)
            if not await self._send_chunk(sse, rec, answer, chunk, last=False):
                return sse.response

        ending_at = None if reply.hold else answer.final_at
        due = await watch.wait_until(ending_at, self._closing, reply.release)
        if due != "due":
            return await self._cut(sse, due)
        if reply.interrupt is not None:
            if reply.interrupt.kind == "drop":
                return sse.drop()
            await sse.send(json.loads(self._error_text(reply.interrupt, rec)))
            return await sse.end()
        for n, chunk in enumerate(final):
            if not await self._send_chunk(sse, rec, answer, chunk, last=n == len(final) - 1):
                return sse.response
        return await sse.end()

    async def _cut(self, sse: SseStream, due: Due) -> web.StreamResponse:
        if due == "closing":  # like a hanging plain request: the client learns the fake closed
            await sse.send(
                {"error": {"code": 503, "message": "fake closed", "status": "UNAVAILABLE"}}
            )
            return await sse.end()
        return sse.response

    async def _send_chunk(
        self, sse: SseStream, rec: RecordedRequest, answer: Answer, chunk: Chunk, *, last: bool
    ) -> bool:
        images = [p.image for p in chunk.parts if p.image is not None]
        return await sse.send(self._chunk_body(rec, answer, chunk, last=last), images)

    def _chunk_body(
        self, rec: RecordedRequest, answer: Answer, chunk: Chunk, *, last: bool
    ) -> dict[str, Any]:
        """The response object one event carries (in the fake's key case)."""
        parts = [p.json for p in chunk.parts]
        cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
        usage = answer.usage
        if last:
            cand = {**cand, "finishReason": "STOP", **answer.finish}
        else:
            prompt = usage["promptTokenCount"]
            usage = {
                "promptTokenCount": prompt,
                "totalTokenCount": prompt,
                "promptTokensDetails": usage["promptTokensDetails"],
            }
        cand["index"] = 0
        body = self._envelope(
            rec, {"candidates": [cand], "usageMetadata": usage}, answer.response_id
        )
        return self._wire(body)
