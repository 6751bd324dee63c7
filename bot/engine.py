"""One editing step: check, prepare images, resolve the parent, store, call the model, deliver.

The user's turn is committed before the model is called, so a crash, a timeout or a model error
never loses it; every way a step can end is an `Outcome` handed to the adapter's `Outbox`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from google.genai import types

from bot import messages
from bot.capabilities import ModelCapabilities, capabilities_for
from bot.config import Settings
from bot.errors import (
    AccessDenied,
    BotError,
    ImageRejected,
    InputRejected,
    ModelBlocked,
    ModelError,
    ModelNotFound,
    ModelRateLimited,
    ModelRejected,
    ModelTimeout,
)
from bot.images import ImageLimits, ImageNote, PreparedImage, prepare_image
from bot.limits import AccessPolicy, ModelGate
from bot.lineage import (
    ContextBudget,
    ContextTurn,
    ImageRef,
    Part,
    Role,
    Turn,
    TurnStatus,
    plan_context,
)
from bot.model import GenerationSettings, ImageLoader, ModelAnswer
from bot.outcome import Failure, FailureKind, Outcome, ResultImage, Success
from bot.quotas import QuotaExceeded, Quotas, QuotaStatus
from bot.request import Author, ChatKey, EditRequest, GenerationOptions, ImageSource
from bot.store import Store

log = logging.getLogger(__name__)

# Downloads and Pillow work are the heavy phases of a step; bounding them keeps a burst of
# chats from thrashing the machine while the (idle) model waits stay wide.
MAX_PARALLEL_DOWNLOADS = 16
MAX_PARALLEL_IMAGE_JOBS = max(2, os.cpu_count() or 2)


class ImageModel(Protocol):
    """The model port the engine needs (implemented by `bot.model.GeminiImageModel`)."""

    async def build_contents(
        self, turns: Sequence[ContextTurn], load: ImageLoader
    ) -> list[types.Content]:
        """Build the request contents for a context plan."""

    async def generate(
        self, contents: list[types.Content], wanted: GenerationSettings
    ) -> ModelAnswer:
        """Call the model; raise `ModelError` when it cannot answer."""


class Outbox(Protocol):
    """How the engine talks back to the user's thread; one per incoming event."""

    async def queued(self, position: int) -> None:
        """Show that the step waits for a model slot. MUST NOT raise for display problems."""

    async def deliver(self, outcome: Outcome) -> Sequence[str]:
        """Post the outcome as a reply in the user's thread; return the posted message ids.

        Ids returned for a `Success` are linked to its model turn, for a `Failure` with a
        stored user turn to that turn, so replies to them continue the lineage.
        """


@dataclass(frozen=True, slots=True)
class _Parent:
    turn_id: int | None
    carried: tuple[ImageRef, ...]  # images of an unanswered user turn that join the new turn


class Engine:
    """The platform-neutral editing engine."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        model: ImageModel,
        access: AccessPolicy,
        gate: ModelGate,
    ) -> None:
        self._settings = settings
        self._store = store
        self._model = model
        self._access = access
        self._gate = gate
        self._downloads = asyncio.Semaphore(MAX_PARALLEL_DOWNLOADS)
        self._image_jobs = asyncio.Semaphore(MAX_PARALLEL_IMAGE_JOBS)
        self._quotas = Quotas(settings.limits, store, access)
        self._image_limits = ImageLimits(
            max_bytes=settings.limits.max_image_bytes,
            max_pixels=settings.limits.max_image_pixels,
        )

    @property
    def store(self) -> Store:
        return self._store

    # public entry points ------------------------------------------------------------------

    async def handle(self, request: EditRequest, outbox: Outbox) -> Outcome:
        """Run one editing step for `request` and deliver its outcome."""
        stored = await self._store.chat_settings(request.chat)  # read once per step
        locale = stored.get("language") or request.author.locale
        try:
            if not self._access.allows(request.chat, request.author):
                raise AccessDenied(request.author.user_id)
            async with self._quotas.reserve(request.chat, request.author):
                return await self._handle_reserved(request, outbox, locale, stored)
        except BotError as exc:  # refused before anything was stored
            return await self._fail(request.chat, outbox, exc, locale, None)

    async def _handle_reserved(
        self, request: EditRequest, outbox: Outbox, locale: str | None, stored: dict[str, str]
    ) -> Outcome:
        try:
            text = request.text.strip()
            limit = self._settings.limits.max_prompt_chars
            if len(text) > limit:
                raise InputRejected("prompt_too_long", length=len(text), limit=limit)
            parent = await self._resolve_parent(request)
            options = await self._generation(request.chat, request.options, stored)
            caps = self._caps(options.model)
            room = caps.max_input_images - (1 if parent.turn_id is not None else 0)
            sources, carried, notes = self._trim_images(
                request.images, parent.carried, max(1, room), caps.max_input_images, locale
            )
            prepared = await self._prepare_all(sources)
        except BotError as exc:
            return await self._fail(request.chat, outbox, exc, locale, None)

        notes += self._image_notes(prepared, locale)
        refs = [await self._store.put_image(p.data, p.mime_type) for p in prepared]
        parts = [Part(image=ref) for ref in (*carried, *refs)]
        if not text:
            if not parts:
                return await self._deliver(
                    request.chat,
                    outbox,
                    Failure(FailureKind.INPUT, messages.text("need_image_or_text", locale)),
                )
            # A picture without an instruction waits, as a draft, for the next message.
            draft = await self._store.add_user_turn(
                request.chat,
                request.author.user_id,
                parent.turn_id,
                parts,
                message_ids=request.message_ids,
                status=TurnStatus.DRAFT,
                locale=request.author.locale,
            )
            failure = Failure(
                FailureKind.NEED_INSTRUCTION, messages.text("held_images", locale), draft.id
            )
            return await self._deliver(request.chat, outbox, failure)
        parts.append(Part(text=text))
        user_turn = await self._store.add_user_turn(
            request.chat,
            request.author.user_id,
            parent.turn_id,
            parts,
            message_ids=request.message_ids,
            locale=request.author.locale,
        )
        log.info(
            "turn %d stored (lineage %d, parent %s, %d images)",
            user_turn.id,
            user_turn.lineage_id,
            parent.turn_id,
            len(refs) + len(carried),
        )
        preloaded = dict(zip(refs, (p.data for p in prepared), strict=True))
        return await self._answer(
            request.chat, request.author, user_turn, options, outbox, locale, notes, preloaded
        )

    async def retry(
        self,
        chat: ChatKey,
        author: Author,
        turn_id: int,
        outbox: Outbox,
        options: GenerationOptions | None = None,
    ) -> Outcome:
        """Answer a stored user turn again (a reroll: a sibling model turn).

        `options` override the chat's settings (a Discord thread passes its channel's).
        """
        locale = await self.locale(chat, author)
        try:
            if not self._access.allows(chat, author):
                raise AccessDenied(author.user_id)
            async with self._quotas.reserve(chat, author):
                return await self._retry_reserved(
                    chat, author, turn_id, outbox, locale, options or GenerationOptions()
                )
        except BotError as exc:
            return await self._fail(chat, outbox, exc, locale, None)

    async def _retry_reserved(
        self,
        chat: ChatKey,
        author: Author,
        turn_id: int,
        outbox: Outbox,
        locale: str | None,
        wanted: GenerationOptions,
    ) -> Outcome:
        user_turn = await self._own_user_turn(chat, turn_id)
        if user_turn is None:
            return await self._deliver(
                chat, outbox, Failure(FailureKind.INPUT, messages.text("unknown_result", locale))
            )
        if user_turn.status is TurnStatus.DRAFT:
            message = messages.text("need_instruction", locale)
            return await self._deliver(
                chat, outbox, Failure(FailureKind.NEED_INSTRUCTION, message)
            )
        await self._store.set_status(user_turn.id, TurnStatus.PENDING)
        options = await self._generation(chat, wanted)
        return await self._answer(chat, author, user_turn, options, outbox, locale, (), {})

    async def original(self, chat: ChatKey, turn_id: int) -> tuple[ResultImage, ...]:
        """The stored, lossless images of a result in `chat` (empty when unknown)."""
        turn = await self._store.get_turn(turn_id)
        if turn is None or await self._store.lineage_chat(turn_id) != (
            chat.platform,
            chat.chat_id,
        ):
            return ()
        return tuple(
            [ResultImage(await self._store.read_image(ref), ref.mime_type) for ref in turn.images]
        )

    async def new_session(self, chat: ChatKey) -> None:
        """Make the chat's next plain message start a new lineage."""
        await self._store.clear_latest(chat)

    @property
    def access(self) -> AccessPolicy:
        return self._access

    async def is_linked(self, chat: ChatKey, message_id: str) -> bool:
        """Whether a message in `chat` shows a turn (a result, or a stored user message)."""
        return await self._store.resolve_link(chat, message_id) is not None

    async def chat_settings(self, chat: ChatKey) -> dict[str, str]:
        """The chat's stored choices (aspect_ratio, image_size, model, language)."""
        return await self._store.chat_settings(chat)

    async def setting_choices(self, chat: ChatKey) -> dict[str, tuple[str, ...]]:
        """What each setting may be set to in `chat`, given its current model."""
        model = (await self._generation(chat, GenerationOptions())).model
        caps = self._caps(model)
        models = (self._settings.gemini.model, *self._settings.gemini.allowed_models)
        return {
            "aspect_ratio": caps.aspect_ratios,
            "image_size": caps.image_sizes,
            "model": tuple(dict.fromkeys(models)),
            "language": messages.LANGUAGES,
        }

    async def change_setting(self, chat: ChatKey, key: str, value: str | None) -> None:
        """Set (None: reset) one chat setting; raise `InputRejected` for a value not offered."""
        choices = await self.setting_choices(chat)
        if key not in choices:
            raise InputRejected("bad_setting", key=key, value=value or "")
        if value is not None and value not in choices[key]:
            raise InputRejected("bad_setting", key=key, value=value)
        await self._store.update_chat_settings(chat, {key: value})
        if key == "model":
            # Sizes and ratios differ per model; drop choices the new model does not offer.
            new = await self.setting_choices(chat)
            stored = await self._store.chat_settings(chat)
            stale: dict[str, str | None] = {
                k: None
                for k in ("aspect_ratio", "image_size")
                if k in stored and stored[k] not in new[k]
            }
            if stale:
                await self._store.update_chat_settings(chat, stale)

    async def quota_status(self, chat: ChatKey, author: Author) -> QuotaStatus:
        """Today's images used and left for `author` in `chat`, and when the day resets."""
        return await self._quotas.status(chat, author)

    async def usage_text(self, chat: ChatKey, author: Author) -> str:
        """The /usage answer, localized."""
        status = await self.quota_status(chat, author)
        locale = await self.locale(chat, author)
        hours, minutes = _until(status.resets_at)
        limited = status.user_limit and not status.exempt
        lines = [
            messages.text(
                "usage_user" if limited else "usage_user_free",
                locale,
                used=status.user_used,
                limit=status.user_limit,
                tokens=status.tokens_today,
            )
        ]
        if status.pool_limit and not status.exempt:
            lines.append(
                messages.text("usage_pool", locale, used=status.pool_used, limit=status.pool_limit)
            )
        lines.append(messages.text("usage_resets", locale, hours=hours, minutes=minutes))
        return "\n".join(lines)

    async def announce_interrupted(
        self, platform: str, outbox_for: Callable[[ChatKey, str | None, str | None], Outbox]
    ) -> int:
        """Tell the authors of steps a crash interrupted, with Retry.

        `outbox_for(chat, message id, locale)` builds where to say it; returns how many.
        """
        pending = await self._store.pending_turns(platform)
        for turn in pending:
            await self._store.set_status(turn.turn_id, TurnStatus.FAILED, "interrupted")
            locale = (await self._store.chat_settings(turn.chat)).get("language") or turn.locale
            failure = Failure(
                FailureKind.INTERRUPTED,
                messages.text("interrupted", locale),
                turn.turn_id,
                retryable=True,
            )
            await self._deliver(turn.chat, outbox_for(turn.chat, turn.message_id, locale), failure)
        if pending:
            log.warning("%s: %d interrupted steps announced", platform, len(pending))
        return len(pending)

    async def forget(self, chat: ChatKey, author: Author) -> int:
        """Delete every turn `author` wrote on this platform and the answers to them.

        Links and images nobody else uses go too; others' turns that continued from them
        become roots of their own. Returns how many turns went.
        """
        turns = await self._store.turns_by_author(chat.platform, author.user_id)
        deleted = await self._store.delete_turns(turns)
        log.info("%s: a user's data was forgotten (%d turns)", chat.platform, deleted)
        return deleted

    async def purge_older_than(self, days: float) -> int:
        """Delete turns (and then unused images) older than `days`."""
        cutoff = datetime.now(UTC).timestamp() - days * 86400
        return await self._store.delete_turns(await self._store.turns_older_than(cutoff))

    async def locale(self, chat: ChatKey, author: Author) -> str | None:
        """The chat's language setting, else the author's platform locale."""
        return (await self._store.chat_settings(chat)).get("language") or author.locale

    # steps ----------------------------------------------------------------------------------

    async def _own_user_turn(self, chat: ChatKey, turn_id: int) -> Turn | None:
        """The user turn behind `turn_id`, if it belongs to a lineage of `chat`."""
        if await self._store.lineage_chat(turn_id) != (chat.platform, chat.chat_id):
            return None
        turn = await self._store.get_turn(turn_id)
        if turn is not None and turn.role is Role.MODEL and turn.parent_id is not None:
            turn = await self._store.get_turn(turn.parent_id)
        return turn

    async def _resolve_parent(self, request: EditRequest) -> _Parent:
        target: Turn | None = None
        if request.reply_to is not None:
            target = await self._store.resolve_link(request.chat, request.reply_to)
        elif request.continue_latest:
            target = await self._store.chat_latest(request.chat)
        if target is None:
            return _Parent(None, ())
        if target.role is Role.MODEL:
            return _Parent(target.id, ())
        answer = await self._store.latest_answer(target.id)
        if answer is not None:
            return _Parent(answer.id, ())
        # An unanswered user turn (a held picture, a failed step): its images join this turn.
        return _Parent(target.parent_id, target.images)

    async def _generation(
        self, chat: ChatKey, wanted: GenerationOptions, stored: dict[str, str] | None = None
    ) -> GenerationSettings:
        """The model and image options for a request: its own, else the chat's, else defaults."""
        if stored is None:
            stored = await self._store.chat_settings(chat)
        configured = self._settings.gemini.model
        model = wanted.model or stored.get("model") or configured
        if model != configured and model not in self._settings.gemini.allowed_models:
            model = configured
        caps = self._caps(model)
        ratio = wanted.aspect_ratio or stored.get("aspect_ratio")
        size = wanted.image_size or stored.get("image_size")
        return GenerationSettings(
            model=model,
            aspect_ratio=ratio if ratio in caps.aspect_ratios else None,
            image_size=size if size in caps.image_sizes else None,
        )

    def _caps(self, model: str) -> ModelCapabilities:
        override = (
            self._settings.gemini.max_input_images
            if model == self._settings.gemini.model
            else None
        )
        return capabilities_for(model, max_input_images=override)

    def _trim_images(
        self,
        sources: Sequence[ImageSource],
        carried: Sequence[ImageRef],
        room: int,
        limit: int,
        locale: str | None,
    ) -> tuple[list[ImageSource], list[ImageRef], tuple[str, ...]]:
        given = len(sources) + len(carried)
        if given <= room:
            return list(sources), list(carried), ()
        kept_carried = list(carried[:room])
        kept_sources = list(sources[: room - len(kept_carried)])
        note = messages.text("done_note_images_used", locale, limit=limit, used=room, given=given)
        return kept_sources, kept_carried, (note,)

    async def _prepare_all(self, sources: Sequence[ImageSource]) -> list[PreparedImage]:
        limit = self._image_limits.max_bytes
        for source in sources:
            if source.declared_size is not None and source.declared_size > limit:
                raise _too_large(source.declared_size, limit)
        return list(await asyncio.gather(*(self._prepare_one(s) for s in sources)))

    async def _prepare_one(self, source: ImageSource) -> PreparedImage:
        async with self._downloads:
            try:
                data = await source.fetch()
            except BotError:
                raise
            except Exception as exc:
                log.warning("download of %r failed", source.name, exc_info=True)
                raise InputRejected("download_failed") from exc
        if len(data) > self._image_limits.max_bytes:
            raise _too_large(len(data), self._image_limits.max_bytes)
        async with self._image_jobs:
            return await prepare_image(data, self._image_limits, verify=not source.trusted)

    def _image_notes(
        self, prepared: Sequence[PreparedImage], locale: str | None
    ) -> tuple[str, ...]:
        if any(ImageNote.ANIMATED_FIRST_FRAME in p.notes for p in prepared):
            return (messages.text("done_note_first_frame", locale),)
        return ()

    async def _answer(
        self,
        chat: ChatKey,
        author: Author,
        user_turn: Turn,
        wanted: GenerationSettings,
        outbox: Outbox,
        locale: str | None,
        notes: tuple[str, ...],
        preloaded: dict[ImageRef, bytes],
    ) -> Outcome:
        caps = self._caps(wanted.model)
        path = await self._store.path(user_turn.parent_id) if user_turn.parent_id else []
        budget = ContextBudget(
            max_images=caps.max_input_images,
            max_bytes=int(self._settings.gemini.context_budget_mb * 1024 * 1024),
        )
        plan = plan_context(path, user_turn.parts, budget)

        async def load(ref: ImageRef) -> bytes:
            cached = preloaded.get(ref)
            return cached if cached is not None else await self._store.read_image(ref)

        try:
            async with self._gate.slot(outbox.queued):
                contents = await self._model.build_contents(plan.turns, load)
                answer = await self._model.generate(contents, wanted)
        except ModelError as exc:
            log.warning(
                "turn %d (lineage %d): model failed: %s: %s",
                user_turn.id,
                user_turn.lineage_id,
                type(exc).__name__,
                exc,
            )
            await self._store.set_status(user_turn.id, TurnStatus.FAILED, type(exc).__name__)
            return await self._fail(chat, outbox, exc, locale, user_turn.id)
        except Exception:
            log.exception("turn %d (lineage %d): step failed", user_turn.id, user_turn.lineage_id)
            await self._store.set_status(user_turn.id, TurnStatus.FAILED, "internal")
            failure = Failure(
                FailureKind.INTERNAL,
                messages.text("internal_error", locale),
                user_turn.id,
                retryable=True,
            )
            return await self._deliver(chat, outbox, failure)

        parts = [
            Part(
                text=p.text,
                image=await self._store.put_image(p.image, p.mime_type or "image/png")
                if p.image is not None
                else None,
                thought=p.thought,
                raw=p.raw,
            )
            for p in answer.parts
        ]
        model_turn = await self._store.add_model_turn(
            chat, user_turn, wanted.model, parts, answer.usage, author.user_id
        )
        log.info(
            "turn %d answered by turn %d (%d images, %d tokens%s)",
            user_turn.id,
            model_turn.id,
            answer.usage.images,
            answer.usage.total_tokens,
            ", rebased" if plan.rebased else "",
        )
        images = tuple(
            ResultImage(p.image, p.mime_type or "image/png")
            for p in answer.images
            if p.image is not None
        )
        shown_text = (
            answer.text if images else messages.text("text_only", locale, text=answer.text)
        )
        if plan.rebased:
            notes += (messages.text("done_note_rebased", locale),)
        success = Success(user_turn.id, model_turn.id, images, shown_text, notes, plan.rebased)
        return await self._deliver(chat, outbox, success)

    async def _deliver(self, chat: ChatKey, outbox: Outbox, outcome: Outcome) -> Outcome:
        """Hand `outcome` to the adapter and link what it posted to the turn, in `chat`.

        Every turn a step touches lives in the step's chat: parents are found through links
        scoped by it, and Retry checks the lineage's chat, so the links stay in that chat.
        """
        try:
            posted = await outbox.deliver(outcome)
        except Exception:
            # The turn is stored either way; the adapter's own error boundary reports details.
            log.exception("could not deliver %s", type(outcome).__name__)
            return outcome
        turn_id = outcome.model_turn_id if isinstance(outcome, Success) else outcome.user_turn_id
        if turn_id is not None and posted:
            await self._store.link(chat, posted, turn_id)
        return outcome

    async def _fail(
        self,
        chat: ChatKey,
        outbox: Outbox,
        exc: BotError,
        locale: str | None,
        user_turn_id: int | None,
    ) -> Outcome:
        return await self._deliver(chat, outbox, failure_for(exc, locale, user_turn_id))


def _until(moment: datetime) -> tuple[int, int]:
    """Hours and minutes from now until `moment`."""
    minutes = max(0, int((moment - datetime.now(UTC)).total_seconds()) // 60)
    return divmod(minutes, 60)


def _too_large(size: int, limit: int) -> InputRejected:
    return InputRejected(
        "file_too_large", size_mb=size / 1024 / 1024, limit_mb=limit / 1024 / 1024
    )


def failure_for(exc: BotError, locale: str | None, user_turn_id: int | None) -> Failure:
    """Explain a core error to the user."""
    t = messages.text
    if isinstance(exc, QuotaExceeded):
        hours, minutes = _until(exc.resets_at)
        message = t(f"quota_{exc.scope}", locale, limit=exc.limit, hours=hours, minutes=minutes)
        return Failure(FailureKind.QUOTA, message, error=exc)
    if isinstance(exc, AccessDenied):
        return Failure(FailureKind.ACCESS, t("access_denied", locale), error=exc)
    if isinstance(exc, ImageRejected):
        return Failure(FailureKind.INPUT, t(f"image_{exc.reason.value}", locale), error=exc)
    if isinstance(exc, InputRejected):
        return Failure(FailureKind.INPUT, t(exc.message_key, locale, **exc.params), error=exc)
    if isinstance(exc, ModelBlocked):
        key = "blocked_safety" if exc.is_safety else "blocked_no_image"
        return Failure(
            FailureKind.BLOCKED, t(key, locale, reason=exc.reason), user_turn_id, True, exc
        )
    if isinstance(exc, ModelRateLimited):
        message = (
            t("rate_limited_wait", locale, seconds=round(exc.retry_after))
            if exc.retry_after
            else t("rate_limited", locale)
        )
        return Failure(FailureKind.MODEL, message, user_turn_id, True, exc)
    if isinstance(exc, ModelNotFound):
        message = t("model_not_found", locale, model=exc.model)
        return Failure(FailureKind.MODEL, message, user_turn_id, False, exc)
    if isinstance(exc, ModelTimeout):
        return Failure(FailureKind.MODEL, t("model_timeout", locale), user_turn_id, True, exc)
    if isinstance(exc, ModelRejected):
        message = t("model_rejected", locale, detail=str(exc)[:300])
        return Failure(FailureKind.MODEL, message, user_turn_id, exc.retryable, exc)
    if isinstance(exc, ModelError):
        return Failure(FailureKind.MODEL, t("model_unavailable", locale), user_turn_id, True, exc)
    return Failure(FailureKind.INTERNAL, t("internal_error", locale), user_turn_id, True, exc)
