"""Talk to Gemini image models through google-genai's async client.

Builds `contents` from a context plan (model turns replayed exactly as received), parses the
answer explicitly (images, text, finish and block reasons, usage, search sources), streams it
when the caller wants to watch the model think, and maps every SDK or
transport failure to the core's `ModelError` tree. Retries are ours, not the SDK's: its backoff
ignores RetryInfo, and without `retry_options` it hides a random 1-10 s sleep on connect errors.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pydantic
from google import genai
from google.genai import errors, types

from bot.capabilities import bare_model_id, capabilities_for
from bot.config import GeminiSettings
from bot.errors import (
    ModelBlocked,
    ModelError,
    ModelNotFound,
    ModelRateLimited,
    ModelRejected,
    ModelTimeout,
    ModelUnavailable,
)
from bot.lineage import ContextTurn, ImageRef, Role, UsageRecord
from bot.outcome import Source

log = logging.getLogger(__name__)

# A 429 asking for a longer wait than this is shown to the user instead of waited out.
MAX_RETRY_WAIT_S = 30.0
ImageLoader = Callable[[ImageRef], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Thought:
    """What a thinking model shows of its work before the answer: summary text, a draft image."""

    text: str = ""
    image: bytes | None = None
    mime_type: str = "image/png"


# Called for every thought part as it streams in. Synchronous on purpose: whatever the caller
# does with a draft must not hold up reading the stream.
OnThought = Callable[[Thought], None]


@dataclass(frozen=True, slots=True)
class AnswerPart:
    """One part of the model's answer; `raw` is the part's JSON without the image bytes."""

    raw: str
    text: str | None = None
    image: bytes | None = None
    mime_type: str | None = None
    thought: bool = False


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    """A usable answer: at least one visible image or some visible text."""

    parts: tuple[AnswerPart, ...]
    finish_reason: str
    usage: UsageRecord
    model_version: str = ""
    sources: tuple[Source, ...] = ()

    @property
    def images(self) -> list[AnswerPart]:
        return [p for p in self.parts if p.image is not None and not p.thought]

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if p.text and not p.thought).strip()


@dataclass(frozen=True, slots=True)
class GenerationSettings:
    """What one call asks for."""

    model: str
    aspect_ratio: str | None = None
    image_size: str | None = None
    search: bool = False  # give the model the Google Search tool
    thoughts: bool = False  # stream the model's thoughts (live previews)


def _retry_delay(exc: errors.APIError) -> float | None:
    """Read google.rpc.RetryInfo's retryDelay ("37s", "0.5s") from an error body."""
    body = exc.details if isinstance(exc.details, dict) else {}
    error = body.get("error", body)
    details = error.get("details", []) if isinstance(error, dict) else []
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            match = re.fullmatch(r"\s*([0-9.]+)s\s*", str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def map_api_error(exc: errors.APIError, model: str) -> ModelError:
    """Turn an SDK API error into the core error tree."""
    code = exc.code or 0
    message = exc.message or exc.status or str(code)
    if code == 429:
        return ModelRateLimited(message, retry_after=_retry_delay(exc))
    if code == 404:
        return ModelNotFound(message, model=model)
    if code in {408, 500, 502, 503, 504} or code >= 500:
        return ModelUnavailable(message, code=code)
    return ModelRejected(message, code=code)


def _dump_part(part: types.Part) -> AnswerPart:
    # The image bytes are stored as a file: excluding them here avoids base64-encoding
    # megabytes only to throw them away.
    raw = part.model_dump(mode="json", exclude_none=True, exclude={"inline_data": {"data"}})
    data: bytes | None = None
    mime: str | None = None
    if part.inline_data is not None and part.inline_data.data is not None:
        data = part.inline_data.data
        mime = part.inline_data.mime_type or "image/png"
    return AnswerPart(
        raw=json.dumps(raw, separators=(",", ":"), sort_keys=True),
        text=part.text,
        image=data,
        mime_type=mime,
        thought=bool(part.thought),
    )


def parse_response(response: types.GenerateContentResponse) -> ModelAnswer:
    """Read an answer, or raise the `ModelError` that explains why there is none."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        reason = _enum_name(feedback.block_reason)
        raise ModelBlocked(reason, feedback.block_reason_message or "")
    if not response.candidates:
        raise ModelUnavailable("answer without candidates")
    candidate = response.candidates[0]
    finish = _enum_name(candidate.finish_reason) if candidate.finish_reason else "STOP"
    content_parts = candidate.content.parts if candidate.content else None
    parts = tuple(_dump_part(p) for p in content_parts or ())
    visible_images = sum(1 for p in parts if p.image is not None and not p.thought)
    if not visible_images and not any(p.text and not p.thought for p in parts):
        # IMAGE_SAFETY and friends, or NO_IMAGE / MAX_TOKENS / a reason newer than this code:
        # either way there is nothing to show, and the reason tells the user why.
        raise ModelBlocked(finish, candidate.finish_message or "")
    meta = response.usage_metadata
    grounding = candidate.grounding_metadata
    sources = {
        chunk.web.uri: Source(chunk.web.title or chunk.web.domain or chunk.web.uri, chunk.web.uri)
        for chunk in (grounding.grounding_chunks or () if grounding else ())
        if chunk.web is not None and chunk.web.uri
    }
    usage = UsageRecord(
        images=visible_images,
        prompt_tokens=(meta.prompt_token_count or 0) if meta else 0,
        output_tokens=(meta.candidates_token_count or 0) if meta else 0,
        total_tokens=(meta.total_token_count or 0) if meta else 0,
    )
    return ModelAnswer(parts, finish, usage, response.model_version or "", tuple(sources.values()))


def _mergeable(before: types.Part, after: types.Part) -> bool:
    """Whether `after` continues the text of `before` (a stream splits long texts)."""
    plain = {"text", "thought", "thought_signature"}
    return (
        before.text is not None
        and after.text is not None
        and bool(before.thought) == bool(after.thought)
        and not (before.thought_signature and after.thought_signature)
        and before.model_fields_set <= plain
        and after.model_fields_set <= plain
    )


def assemble(chunks: Sequence[types.GenerateContentResponse]) -> types.GenerateContentResponse:
    """The response a non-streamed call returns, from the chunks of a streamed one.

    Parts keep their order; text fragments of one part are joined and keep the one signature
    they carry, so the stored turn replays exactly as the model sent it. The other fields are
    the last ones any chunk carried (the final chunk has the finish reason and usage).
    """
    parts: list[types.Part] = []
    candidate: dict[str, Any] = {}
    response: dict[str, Any] = {}
    for chunk in chunks:
        for key in ("prompt_feedback", "usage_metadata", "model_version", "response_id"):
            if getattr(chunk, key) is not None:
                response[key] = getattr(chunk, key)
        if not chunk.candidates:
            continue
        first = chunk.candidates[0]
        for key in ("finish_reason", "finish_message", "grounding_metadata", "safety_ratings"):
            if getattr(first, key) is not None:
                candidate[key] = getattr(first, key)
        for part in (first.content.parts if first.content else None) or ():
            if parts and _mergeable(parts[-1], part):
                previous = parts[-1]
                parts[-1] = previous.model_copy(
                    update={
                        "text": (previous.text or "") + (part.text or ""),
                        "thought_signature": previous.thought_signature or part.thought_signature,
                    }
                )
            else:
                parts.append(part)
    if parts or candidate:
        content = types.Content(role="model", parts=parts) if parts else None
        response["candidates"] = [types.Candidate(content=content, index=0, **candidate)]
    return types.GenerateContentResponse(**response)


def _thoughts(chunk: types.GenerateContentResponse) -> Iterator[Thought]:
    """The thought parts of one streamed chunk, as the caller shows them."""
    content = chunk.candidates[0].content if chunk.candidates else None
    for part in (content.parts if content else None) or ():
        if not part.thought:
            continue
        data = part.inline_data.data if part.inline_data is not None else None
        mime = (part.inline_data.mime_type if part.inline_data else None) or "image/png"
        if data or part.text:
            yield Thought(part.text or "", data, mime)


def _enum_name(value: object) -> str:
    # Unknown enum values arrive as pseudo-members or plain strings; never crash on them.
    name = getattr(value, "name", None) or getattr(value, "value", None) or str(value)
    return str(name).rsplit(".", 1)[-1].upper()


@contextmanager
def _as_model_errors(model: str, timed_out: str) -> Iterator[None]:
    """Turn every SDK or transport failure inside the block into the core's `ModelError`."""
    try:
        yield
    except errors.APIError as exc:
        raise map_api_error(exc, model) from exc
    except TimeoutError as exc:
        raise ModelTimeout(timed_out) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise ModelUnavailable(f"cannot reach Gemini: {type(exc).__name__}") from exc
    except (pydantic.ValidationError, ValueError) as exc:
        raise ModelUnavailable(f"malformed answer: {type(exc).__name__}") from exc


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model the API key can use, as `models.list` names it."""

    id: str  # without the "models/" prefix
    generates_content: bool

    @property
    def makes_images(self) -> bool:
        """An image model: Google's image model ids all say "image"."""
        return self.generates_content and "image" in self.id


class GeminiImageModel:
    """The image model behind the engine."""

    def __init__(
        self,
        settings: GeminiSettings,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        options = types.HttpOptions(
            api_version=settings.api_version,
            timeout=int(settings.timeout_s * 1000),  # milliseconds
            # One attempt per SDK call: retries (and their RetryInfo) are handled below.
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        if settings.base_url:
            options.base_url = settings.base_url
        self._client = genai.Client(api_key=settings.api_key, http_options=options)

    async def aclose(self) -> None:
        """Close the HTTP sessions."""
        await self._client.aio.aclose()

    async def list_models(self) -> list[ModelInfo]:
        """Every base model the API key can use (`models.list`, all pages)."""
        with _as_model_errors("models", "no model list in time"):
            async with asyncio.timeout(self._settings.timeout_s):
                pager = await self._client.aio.models.list(
                    config=types.ListModelsConfig(page_size=100)
                )
                return [
                    ModelInfo(
                        bare_model_id(found.name or ""),
                        "generateContent" in (found.supported_actions or ()),
                    )
                    async for found in pager
                ]

    async def check_configured(self) -> None:
        """Name an unusable `gemini.model` in one log line; never raise (Gemini may be down)."""
        configured = self._settings.model
        try:
            available = await self.list_models()
        except ModelError as exc:
            log.warning("could not check gemini.model %r: %s", configured, exc)
            return
        wanted = bare_model_id(configured)
        if not any(m.id == wanted and m.generates_content for m in available):
            log.warning(
                "gemini.model %r is not among the models this API key can use;"
                " `bananabot models` lists the image models it can",
                configured,
            )

    async def _build_contents(
        self, turns: Sequence[ContextTurn], load: ImageLoader
    ) -> list[types.Content]:
        """Turn a context plan into `contents`, loading image bytes from the store."""
        refs = {p.image for t in turns for p in t.parts if p.image is not None}
        loaded = dict(zip(refs, await asyncio.gather(*(load(r) for r in refs)), strict=True))
        contents = []
        for turn in turns:
            parts: list[types.Part] = []
            for part in turn.parts:
                if turn.role is Role.MODEL and part.raw is not None:
                    raw = json.loads(part.raw)
                    if part.image is not None:
                        raw.setdefault("inline_data", {})["data"] = loaded[part.image]
                    parts.append(types.Part.model_validate(raw))
                elif part.image is not None:
                    parts.append(
                        types.Part.from_bytes(
                            data=loaded[part.image], mime_type=part.image.mime_type
                        )
                    )
                elif part.text:
                    parts.append(types.Part(text=part.text))
            contents.append(types.Content(role=turn.role.value, parts=parts))
        return contents

    def _config(
        self, wanted: GenerationSettings, *, thoughts: bool = False
    ) -> types.GenerateContentConfig:
        caps = capabilities_for(wanted.model)
        image_config = types.ImageConfig()
        if wanted.aspect_ratio:
            image_config.aspect_ratio = wanted.aspect_ratio
        if wanted.image_size and wanted.image_size in caps.image_sizes:
            image_config.image_size = wanted.image_size
        config = types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"])
        if image_config.aspect_ratio or image_config.image_size:
            config.image_config = image_config
        if self._settings.system_instruction:
            config.system_instruction = self._settings.system_instruction
        if thoughts:
            config.thinking_config = types.ThinkingConfig(include_thoughts=True)
        if wanted.search:
            config.tools = [types.Tool(google_search=types.GoogleSearch())]
        return config

    async def generate(
        self,
        turns: Sequence[ContextTurn],
        load: ImageLoader,
        wanted: GenerationSettings,
        on_thought: OnThought | None = None,
    ) -> ModelAnswer:
        """Answer a context plan with bounded retries; raise a `ModelError` when it cannot.

        With `on_thought` the call streams, asks for the model's thoughts and hands each one
        over as it arrives. Cancelling the calling task closes the connection at once.
        """
        contents = await self._build_contents(turns, load)
        attempts = self._settings.retry_attempts
        for attempt in range(1, attempts + 1):
            try:
                return await self._generate_once(contents, wanted, on_thought)
            except ModelError as exc:
                delay = self._retry_wait(exc, attempt)
                if attempt == attempts or delay is None:
                    raise
                log.warning(
                    "model call failed (%s), retry %d/%d in %.2fs",
                    type(exc).__name__,
                    attempt,
                    attempts - 1,
                    delay,
                )
                await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _retry_wait(self, exc: ModelError, attempt: int) -> float | None:
        if isinstance(exc, ModelRateLimited):
            if exc.retry_after is not None:
                return exc.retry_after if exc.retry_after <= MAX_RETRY_WAIT_S else None
        elif not isinstance(exc, ModelUnavailable | ModelTimeout):
            return None
        backoff: float = self._settings.retry_backoff_s * 2.0 ** (attempt - 1)
        # Jitter spreads the retries of a burst of chats that failed together.
        return min(backoff, MAX_RETRY_WAIT_S) * (1 + random.random() / 2)

    async def _generate_once(
        self,
        contents: list[types.Content],
        wanted: GenerationSettings,
        on_thought: OnThought | None,
    ) -> ModelAnswer:
        # The SDK enforces the timeout too; this guard also covers a stalled body read.
        with _as_model_errors(wanted.model, "no answer in time"):
            async with asyncio.timeout(self._settings.timeout_s + 5):
                if on_thought is None:
                    response = await self._client.aio.models.generate_content(
                        model=wanted.model, contents=contents, config=self._config(wanted)
                    )
                else:
                    response = await self._stream(contents, wanted, on_thought)
        return parse_response(response)

    async def _stream(
        self, contents: list[types.Content], wanted: GenerationSettings, on_thought: OnThought
    ) -> types.GenerateContentResponse:
        # `aclose()` on the stream would leave the connection open until garbage collection;
        # cancelling this task instead closes it at once (API-NOTES F).
        stream = await self._client.aio.models.generate_content_stream(
            model=wanted.model, contents=contents, config=self._config(wanted, thoughts=True)
        )
        chunks = []
        async for chunk in stream:
            chunks.append(chunk)
            for thought in _thoughts(chunk):
                on_thought(thought)
        return assemble(chunks)
