"""One editing step: check, take in images, resolve the parent, store, call the model, deliver.

The user's turn is committed before the model is called, so a crash, a timeout or a model error
never loses it; every way a step can end is an `Outcome` handed to the adapter's `Outbox`.
The jobs around a step live in their own modules: `intake` (images), `chat_settings`,
`housekeeping` (forget, retention, interrupted steps) and `explain` (the user's sentences).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot import messages
from bot.actions import Action, ActionRegistry, Audience, PressContext, PressReply, unpack
from bot.answering import Answering, ImageModel
from bot.boards import Boards
from bot.cards import Card
from bot.chat_settings import ChatSettings
from bot.config import Settings
from bot.coordination import Coordination
from bot.delivery import Delivery, Outbox
from bot.errors import AccessDenied, BotError, InputRejected
from bot.explain import failure_for, usage_text
from bot.history import Storyboards
from bot.housekeeping import Housekeeping, OutboxFactory
from bot.images import ImageLimits, PreparedImage
from bot.intake import ImageIntake
from bot.iteration import Builder, caption_of, gathered
from bot.iteration_actions import iteration_actions
from bot.limits import AccessPolicy, ModelGate
from bot.lineage import (
    ImageRef,
    Part,
    Role,
    Turn,
    TurnStatus,
    UsageRecord,
)
from bot.metrics import Metrics
from bot.model import GenerationSettings
from bot.outcome import Failure, FailureKind, Outcome, ResultImage, Success
from bot.quotas import Quotas, QuotaStatus
from bot.reference_desk import ReferenceDesk
from bot.references import References, mentions, reference_parts
from bot.region_edits import Region, region_of, region_parts, whole_image_of
from bot.request import Author, ChatKey, EditRequest, GenerationOptions, ImageSource
from bot.running import stop_mark
from bot.standard_actions import FORGET, STANDARD_ACTIONS
from bot.store import Store

__all__ = ["Engine", "ImageModel", "Outbox", "failure_for"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Parent:
    turn_id: int | None
    carried: tuple[ImageRef, ...]  # images of an unanswered user turn that join the new turn
    borrowed: tuple[ImageSource, ...] = ()  # pictures of a replied message that shows no turn


class Engine:
    """The platform-neutral editing engine: what adapters call."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        model: ImageModel,
        access: AccessPolicy,
        gate: ModelGate,
        actions: ActionRegistry | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._settings = settings
        self._metrics = metrics if metrics is not None else Metrics()
        self._store = store
        self._model = model
        self._access = access
        self._gate = gate
        self._quotas = Quotas(settings.limits, store, access)
        self._intake = ImageIntake(
            ImageLimits(
                max_bytes=settings.limits.max_image_bytes,
                max_pixels=settings.limits.max_image_pixels,
            )
        )
        self._chat_settings = ChatSettings(settings, store, access)
        self._actions = (
            actions
            if actions is not None
            else ActionRegistry((*STANDARD_ACTIONS, *iteration_actions(settings)))
        )
        self._delivery = Delivery(store, self._actions)
        self._housekeeping = Housekeeping(store, self._chat_settings, self._delivery)
        self._answering = Answering(
            store,
            model,
            gate,
            self._actions,
            self._chat_settings.caps,
            int(settings.gemini.context_budget_mb * 1024 * 1024),
            self._metrics,
        )
        self._boards = Boards(store)
        self._storyboards = Storyboards(self._boards)
        self._references = References(settings, store, access)
        self._desk = ReferenceDesk(
            self._references,
            store,
            self._intake,
            self._boards,
            access,
            settings.references.max_images,
        )

    @property
    def access(self) -> AccessPolicy:
        return self._access

    @property
    def actions(self) -> ActionRegistry:
        """Every action cards may offer (adapters render them without knowing them)."""
        return self._actions

    @property
    def settings_service(self) -> ChatSettings:
        """Keys, choices, validation and permissions of per-chat settings."""
        return self._chat_settings

    @property
    def coordination(self) -> Coordination:
        """What the instances sharing the store agree on."""
        return self._store.coordination

    async def handle(self, request: EditRequest, outbox: Outbox) -> Outcome:
        """Run one editing step for `request` and deliver its outcome."""
        locale, wanted = await self._step_settings(request.chat, request.author, request.options)
        try:
            async with self._admitted(request.chat, request.author, wanted):
                return await self._handle_reserved(request, outbox, locale, wanted)
        except BotError as exc:  # refused before anything was stored
            return await self._fail(request.chat, outbox, exc, locale, None)

    async def _step_settings(
        self, chat: ChatKey, author: Author, options: GenerationOptions
    ) -> tuple[str | None, GenerationSettings]:
        """The language to answer in and what to ask the model, from one settings read."""
        stored = await self._chat_settings.stored(chat)
        locale = stored.get("language") or author.locale
        return locale, await self._chat_settings.generation(chat, options, stored)

    @asynccontextmanager
    async def _admitted(
        self, chat: ChatKey, author: Author, wanted: GenerationSettings, images: int = 1
    ) -> AsyncIterator[None]:
        """Refuse whom the access rules refuse; else hold `images` and their estimated cost
        (the chat's model and size) against today's limits while the block runs."""
        if not self._access.allows(chat, author):
            raise AccessDenied(author.user_id)
        caps = self._chat_settings.caps(wanted.model)
        cost = caps.estimated_cost(0, images, wanted.image_size)  # input tokens come later
        with self._metrics.step():
            async with self._quotas.reserve(chat, author, images=images, cost=cost):
                yield

    async def _handle_reserved(
        self,
        request: EditRequest,
        outbox: Outbox,
        locale: str | None,
        options: GenerationSettings,
    ) -> Outcome:
        try:
            text = request.text.strip()
            limit = self._settings.limits.max_prompt_chars
            if len(text) > limit:
                raise InputRejected("prompt_too_long", length=len(text), limit=limit)
            parent = await self._resolve_parent(request)
            if (
                request.requires_image
                and parent.turn_id is None
                and not (parent.carried or parent.borrowed or request.images)
            ):
                raise InputRejected("need_image")
            used = await self._references.resolve(
                request.chat, request.author, [*mentions(text), *request.references]
            )
            caps = self._chat_settings.caps(options.model)
            room = caps.max_input_images - (1 if parent.turn_id is not None else 0)
            given = (*parent.borrowed, *request.images)
            referenced = sum(len(r.images) for r in used)
            needed = len(given) + len(parent.carried) + referenced
            if used and needed > max(1, room):
                # References are never dropped quietly: the user chose each one by name.
                raise InputRejected(
                    "references_over_limit",
                    limit=caps.max_input_images,
                    needed=needed + caps.max_input_images - room,  # with the parent's picture
                    referenced=referenced,
                )
            sources, carried, notes = self._intake.fit(
                given, parent.carried, max(1, room), caps.max_input_images, locale
            )
            prepared = await self._intake.prepare(sources)
        except BotError as exc:
            return await self._fail(request.chat, outbox, exc, locale, None)

        notes += self._intake.notes(sources, prepared, locale)
        marking = await self._marked_region(request, parent, prepared, carried, text)
        if marking is not None:
            # A marked-up copy: the guide and the mask stand in for it (it is never sent).
            region, preloaded = marking
            guide = await self._store.put_image(region.guide, "image/png")
            mask = await self._store.put_image(region.mask, "image/png")
            parts = region_parts(guide, mask, text, reference_parts(used))
            preloaded |= {guide: region.guide, mask: region.mask}
        else:
            refs = [await self._store.put_image(p.data, p.mime_type) for p in prepared]
            parts = [Part(image=ref) for ref in (*carried, *refs)]
            preloaded = dict(zip(refs, (p.data for p in prepared), strict=True))
            if not text and not parts:
                failure = Failure(FailureKind.INPUT, messages.text("need_image_or_text", locale))
                return await self._deliver(request.chat, outbox, failure, locale)
            if text:
                parts += [*reference_parts(used), Part(text=text)]
        # Pictures without an instruction wait, as a draft, for the next message.
        user_turn = await self._store.add_user_turn(
            request.chat,
            request.author.user_id,
            parent.turn_id,
            parts,
            message_ids=request.message_ids,
            status=TurnStatus.PENDING if text else TurnStatus.DRAFT,
            locale=request.author.locale,
        )
        if not text:
            failure = Failure(
                FailureKind.NEED_INSTRUCTION,
                messages.text("held_images", locale),
                user_turn.id,
                notes=notes,
            )
            return await self._deliver(request.chat, outbox, failure, locale)
        log.info(
            "turn %d stored (lineage %d, parent %s, %d images%s)",
            user_turn.id,
            user_turn.lineage_id,
            parent.turn_id,
            len(user_turn.images),
            ", a region edit" if marking is not None else "",
        )
        return await self._answer(
            request.chat, request.author, user_turn, options, outbox, locale, notes, preloaded
        )

    async def _marked_region(
        self,
        request: EditRequest,
        parent: _Parent,
        prepared: Sequence[PreparedImage],
        carried: Sequence[ImageRef],
        text: str,
    ) -> tuple[Region, dict[ImageRef, bytes]] | None:
        """The region a reply's one picture marks on the image it replies to, if it is a
        marked-up copy of it (else the picture is an ordinary input), with that image's bytes:
        the request and the blend need them again. The picture may have come first, held for
        this instruction (a photo sent without a caption)."""
        if parent.turn_id is None or parent.borrowed or not text:
            return None
        if len(prepared) == 1 and not carried:
            candidate = prepared[0].data
        elif not prepared and len(carried) == 1:
            try:
                candidate = await self._store.read_image(carried[0])
            except FileNotFoundError:
                return None
        else:
            return None
        shown = await self._store.get_turn(parent.turn_id)
        original = await self._last_image(shown) if shown is not None else None
        if shown is None or original is None:
            return None
        region = await region_of(original.data, candidate)
        return (region, {shown.images[-1]: original.data}) if region is not None else None

    async def whole_image(
        self, chat: ChatKey, author: Author, turn_id: int, outbox: Outbox, locale: str | None
    ) -> bool:
        """Post a region edit's unblended answer as a sibling result (replies continue from
        it); False when `turn_id` is no region result of `chat`'s."""
        result = await self._own_result(chat, turn_id)
        found = whole_image_of(result) if result is not None else None
        if result is None or found is None or result.parent_id is None:
            return False
        user_turn = await self._store.get_turn(result.parent_id)
        if user_turn is None:
            return False
        whole, raw = found
        data = await self._store.read_image(whole)
        sibling = await self._store.add_model_turn(
            chat,
            user_turn,
            result.model or "",
            [Part(image=whole, raw=raw)],
            UsageRecord(images=0),  # no model call: nothing to charge
            author.user_id,
        )
        outcome = Success(
            user_turn.id,
            sibling.id,
            (ResultImage(data, whole.mime_type),),
            messages.text("whole_image_text", locale),
            model=result.model or "",
        )
        await self._delivery.post(chat, outbox, outcome, locale)
        return True

    async def retry(self, chat: ChatKey, author: Author, turn_id: int, outbox: Outbox) -> Outcome:
        """Answer a stored user turn again (a reroll: a sibling model turn)."""
        locale, wanted = await self._step_settings(chat, author, GenerationOptions())
        try:
            async with self._admitted(chat, author, wanted):
                return await self._retry_reserved(chat, author, turn_id, outbox, locale, wanted)
        except BotError as exc:
            return await self._fail(chat, outbox, exc, locale, None)

    async def _retry_reserved(
        self,
        chat: ChatKey,
        author: Author,
        turn_id: int,
        outbox: Outbox,
        locale: str | None,
        wanted: GenerationSettings,
    ) -> Outcome:
        user_turn = await self._own_user_turn(chat, turn_id)
        if user_turn is None:
            return await self._deliver(
                chat,
                outbox,
                Failure(FailureKind.INPUT, messages.text("unknown_result", locale)),
                locale,
            )
        if user_turn.status is TurnStatus.DRAFT:
            message = messages.text("need_instruction", locale)
            return await self._deliver(
                chat, outbox, Failure(FailureKind.NEED_INSTRUCTION, message), locale
            )
        await self._store.set_status(user_turn.id, TurnStatus.PENDING)
        return await self._answer(chat, author, user_turn, wanted, outbox, locale, (), {})

    async def follow_up(
        self, chat: ChatKey, author: Author, turn_id: int, build: Builder, outbox: Outbox
    ) -> Outcome:
        """A next step from result `turn_id`: a new user turn under it, built by `build` from
        the result's image, answered like any other (limits, Stop, Retry, replies)."""
        locale, current = await self._step_settings(chat, author, GenerationOptions())
        try:
            async with self._admitted(chat, author, current):
                result = await self._own_result(chat, turn_id)
                image = await self._last_image(result) if result is not None else None
                if result is None or image is None:
                    failure = Failure(FailureKind.INPUT, messages.text("unknown_result", locale))
                    return await self._deliver(chat, outbox, failure, locale)
                follow = await build(image, current, self._chat_settings.caps)
                if follow is None:
                    failure = Failure(FailureKind.INPUT, messages.text("cannot_do_that", locale))
                    return await self._deliver(chat, outbox, failure, locale)
                refs = [await self._store.put_image(i.data, i.mime_type) for i in follow.images]
                parts = [*(Part(image=r) for r in refs), Part(text=follow.text)]
                user_turn = await self._store.add_user_turn(
                    chat, author.user_id, result.id, parts, locale=author.locale
                )
                preloaded = {r: i.data for r, i in zip(refs, follow.images, strict=True)}
                return await self._answer(
                    chat, author, user_turn, follow.wanted, outbox, locale, (), preloaded
                )
        except BotError as exc:
            return await self._fail(chat, outbox, exc, locale, None)

    async def variations(
        self, chat: ChatKey, author: Author, turn_id: int, outbox: Outbox
    ) -> Outcome:
        """Answer the instruction behind result `turn_id` again, several times at once.

        The images are reserved up front; the answers run in parallel under the model gate
        and are posted together, each linked to its own model turn. Only successes count.
        """
        locale, wanted = await self._step_settings(chat, author, GenerationOptions())
        # One status for them all: drafts of several answers would only confuse.
        wanted = dataclasses.replace(wanted, thoughts=False)
        count = self._settings.iteration.variations
        try:
            async with self._admitted(chat, author, wanted, images=count):
                user_turn = await self._own_user_turn(chat, turn_id)
                if user_turn is None or user_turn.status is TurnStatus.DRAFT:
                    failure = Failure(FailureKind.INPUT, messages.text("unknown_result", locale))
                    return await self._deliver(chat, outbox, failure, locale)
                status = self._answering.status(outbox, chat, user_turn, locale)
                try:
                    outcomes = await asyncio.gather(
                        *(
                            self._answering.answer(
                                chat, author, user_turn, wanted, status, locale, mark_failed=False
                            )
                            for _ in range(count)
                        )
                    )
                finally:
                    await status.aclose()
                return await self._deliver(chat, outbox, gathered(outcomes, locale), locale)
        except BotError as exc:
            return await self._fail(chat, outbox, exc, locale, None)

    async def info_text(self, chat: ChatKey, author: Author, reply_to: str | None) -> str:
        """The /info answer: about the replied-to result, else the chat's latest one."""
        locale = await self._chat_settings.locale(chat, author)
        target = await self._result_named(chat, reply_to, latest=True)
        text = await self.info(chat, target.id, locale) if target is not None else None
        return text or messages.text("info_needs_result", locale)

    async def history(
        self,
        chat: ChatKey,
        author: Author,
        reply_to: str | None,
        *,
        latest: bool,
        drawing: Callable[[], Awaitable[None]] | None = None,
    ) -> Card:
        """The /history answer: one storyboard picture of the path from the lineage's root to
        the replied-to result (with no reply and `latest`: the chat's latest result).

        `drawing` is awaited once the picture will be drawn, the slow part: a platform may
        show that it is working (Discord defers) and answer a refusal privately otherwise.
        """
        locale = await self._chat_settings.locale(chat, author)
        if not self._access.allows(chat, author):
            return Card(messages.text("access_denied", locale))
        target = await self._result_named(chat, reply_to, latest=latest)
        if target is None:
            return Card(messages.text("history_needs_result", locale))
        if drawing is not None:
            await drawing()
        board = await self._storyboards.draw(await self._store.path(target.id), locale)
        notes: tuple[str, ...] = ()
        if board.shown < board.edits:
            notes = (messages.text("history_cut", locale, shown=board.shown, edits=board.edits),)
        return Card(
            messages.text("history_text", locale, edits=board.edits),
            notes,
            images=(ResultImage(board.picture, "image/jpeg"),),
            name=f"history-{target.id}",
        )

    async def _result_named(
        self, chat: ChatKey, reply_to: str | None, *, latest: bool
    ) -> Turn | None:
        """The result a message in `chat` shows (for a user's message: its answer); with no
        message and `latest`, the chat's latest result."""
        if reply_to is not None:
            target = await self._store.resolve_link(chat, reply_to)
        elif latest:
            target = await self._store.chat_latest(chat)
        else:
            return None
        if target is not None and target.role is Role.USER:
            target = await self._store.latest_answer(target.id)
        return target

    async def info(self, chat: ChatKey, turn_id: int, locale: str | None) -> str | None:
        """How result `turn_id` was made and what it cost; None when it is not one of `chat`'s."""
        result = await self._own_result(chat, turn_id)
        usage = await self._store.turn_usage(turn_id) if result is not None else None
        if result is None or usage is None:
            return None
        path = await self._store.path(turn_id)
        instruction = path[-2].text if len(path) >= 2 else ""
        default = messages.text("setting_default", locale)
        return messages.text(
            "info",
            locale,
            model=result.model or "?",
            size=usage.image_size or default,
            ratio=usage.aspect_ratio or default,
            seconds=f"{usage.seconds:.1f}",
            prompt=usage.prompt_tokens,
            output=usage.output_tokens,
            cost=f"{usage.cost_usd:.3f}",
            depth=sum(1 for turn in path if turn.role is Role.MODEL),
            instruction=caption_of(instruction, locale)[:300] or "-",
        )

    async def show_result(
        self, chat: ChatKey, turn_id: int, outbox: Outbox, locale: str | None
    ) -> bool:
        """Post result `turn_id` again on its own, with everything a single result offers (one
        of Variations, picked); False when it is no picture result of `chat`'s."""
        result = await self._own_result(chat, turn_id)
        image = await self._last_image(result) if result is not None else None
        if result is None or image is None or result.parent_id is None:
            return False
        usage = await self._store.turn_usage(turn_id)
        outcome = Success(
            result.parent_id,
            result.id,
            (image,),
            result.text,
            model=result.model or "",
            image_size=usage.image_size if usage is not None else None,
        )
        await self._delivery.post(chat, outbox, outcome, locale)
        return True

    async def _last_image(self, turn: Turn) -> ResultImage | None:
        """A turn's last visible image, if it still has one (retention may have taken it)."""
        if not turn.images:
            return None
        ref = turn.images[-1]
        try:
            return ResultImage(await self._store.read_image(ref), ref.mime_type)
        except FileNotFoundError:
            return None

    async def _own_result(self, chat: ChatKey, turn_id: int) -> Turn | None:
        """The model turn `turn_id`, if it belongs to a lineage of `chat`."""
        if await self._store.lineage_chat(turn_id) != (chat.platform, chat.chat_id):
            return None
        turn = await self._store.get_turn(turn_id)
        return turn if turn is not None and turn.role is Role.MODEL else None

    async def original(self, chat: ChatKey, turn_id: int) -> tuple[ResultImage, ...]:
        """The stored, lossless images of a result in `chat` (empty when unknown)."""
        turn = await self._own_result(chat, turn_id)
        if turn is None:
            return ()
        return tuple(
            [ResultImage(await self._store.read_image(ref), ref.mime_type) for ref in turn.images]
        )

    async def stop(
        self,
        chat: ChatKey,
        author: Author,
        turn_id: int,
        chat_admin: Callable[[], Awaitable[bool]],
    ) -> str | None:
        """Stop the model call answering user turn `turn_id`; None, or why not (a message key).

        Its asker may, and so may bot admins and the chat's admins (`chat_admin` asks the
        platform, only when needed). The step itself then posts "Stopped." with Retry.
        """
        calls = self._answering.running.find(turn_id, chat)
        coordination = self._store.coordination
        if calls:
            asker = calls[0].author_id
        else:
            turn = await self._own_user_turn(chat, turn_id)
            if turn is None:
                return "unknown_result"
            # Pending, and the store shared: another instance runs it (or ran it and died).
            if turn.status is not TurnStatus.PENDING or not coordination.shared:
                return "stop_too_late"
            asker = turn.author_id
        if not (
            asker == author.user_id or self._access.is_admin(chat, author) or await chat_admin()
        ):
            return "stop_not_yours"
        if not calls:
            await coordination.set_mark(stop_mark(turn_id), author.user_id)
        for call in calls:
            call.stop()
        return None

    async def new_session(self, chat: ChatKey) -> None:
        """Make the chat's next plain message start a new lineage."""
        await self._store.clear_latest(chat)

    async def press(self, payload: str, chat: ChatKey, author: Author, reply: PressReply) -> None:
        """Run the action a button press names, if the presser may; else say why."""
        locale = await self._chat_settings.locale(chat, author)
        press = unpack(payload)
        action = self._actions.find(press) if press is not None else None
        try:
            if press is None or action is None:
                log.info("%s: a press on a button this version does not offer", chat.platform)
                await reply.notify(messages.text("button_expired", locale))
            elif (refusal := self._refusal(action, press.arg, chat, author)) is not None:
                await reply.notify(messages.text(refusal, locale))
            else:
                await action.handler(self, PressContext(chat, author, locale, reply), press.arg)
        finally:
            await reply.finish()

    def _refusal(self, action: Action, arg: str, chat: ChatKey, author: Author) -> str | None:
        """Why `author` may not press `action` here (a message key), or None."""
        if action.audience is Audience.OWNER and arg != author.user_id:
            return "not_your_button"
        if action.audience is Audience.ALLOWED and not self._access.allows(chat, author):
            return "access_denied"
        return None

    def card(self, outcome: Outcome, locale: str | None) -> Card:
        """How `outcome` is shown: its text, notes, images and the actions it offers."""
        return self._delivery.card(outcome, locale)

    async def forget_card(self, chat: ChatKey, author: Author) -> Card:
        """The /forget confirmation: a warning and a button only its asker may press."""
        locale = await self._chat_settings.locale(chat, author)
        button = self._actions.button(FORGET, author.user_id, locale)
        return Card(messages.text("forget_confirm", locale), buttons=(button,))

    async def is_linked(self, chat: ChatKey, message_id: str) -> bool:
        """Whether a message in `chat` shows a turn (a result, or a stored user message)."""
        return await self._store.resolve_link(chat, message_id) is not None

    async def linked_message_ids(self, chat: ChatKey, prefix: str = "") -> list[str]:
        """The ids of messages in `chat` that show a turn and start with `prefix`."""
        return await self._store.message_ids(chat, prefix)

    async def latest_turn(self, chat: ChatKey) -> Turn | None:
        """The chat's latest turn (a result, or a user turn still waiting); None after /new."""
        return await self._store.chat_latest(chat)

    async def locale(self, chat: ChatKey, author: Author) -> str | None:
        """The chat's language setting, else the author's platform locale."""
        return await self._chat_settings.locale(chat, author)

    async def quota_status(self, chat: ChatKey, author: Author) -> QuotaStatus:
        """Today's images used and left for `author` in `chat`, and when the day resets."""
        return await self._quotas.status(chat, author)

    async def usage_text(self, chat: ChatKey, author: Author) -> str:
        """The /usage answer, localized."""
        status = await self.quota_status(chat, author)
        return usage_text(status, await self.locale(chat, author))

    async def announce_interrupted(self, platform: str, outbox_for: OutboxFactory) -> int:
        """Tell the authors of steps a crash interrupted, with Retry; returns how many."""
        return await self._housekeeping.announce_interrupted(platform, outbox_for)

    async def sweep_interrupted(self) -> int:
        """Announce steps other instances left when they died (see `announce_interrupted`)."""
        return await self._housekeeping.sweep()

    async def forget(self, chat: ChatKey, author: Author) -> int:
        """Delete every turn `author` wrote on this platform and the answers to them, and the
        references they saved; return how many turns went."""
        await self._references.forget(chat.platform, author.user_id)
        return await self._housekeeping.forget(chat, author)

    async def save_reference(
        self,
        chat: ChatKey,
        author: Author,
        name: str,
        prompt: str,
        images: Sequence[ImageSource] = (),
        reply_to: str | None = None,
        reply_images: Sequence[ImageSource] = (),
        *,
        private: bool,
        chat_admin: Callable[[], Awaitable[bool]],
    ) -> str:
        """/ref save: keep pictures and/or a style as #name (see `ReferenceDesk.save`)."""
        locale = await self.locale(chat, author)
        return await self._desk.save(
            chat,
            author,
            locale,
            name,
            prompt,
            images,
            reply_to,
            reply_images,
            private=private,
            chat_admin=chat_admin,
        )

    async def delete_reference(
        self,
        chat: ChatKey,
        author: Author,
        name: str,
        *,
        private: bool,
        chat_admin: Callable[[], Awaitable[bool]],
    ) -> str:
        """/ref delete: the answer."""
        locale = await self.locale(chat, author)
        return await self._desk.delete(
            chat, author, locale, name, private=private, chat_admin=chat_admin
        )

    async def reference_sheet(self, chat: ChatKey, author: Author, *, private: bool) -> Card:
        """/ref (list): a contact sheet of the references usable here, and the styles."""
        locale = await self.locale(chat, author)
        return await self._desk.sheet(chat, author, locale, private=private)

    async def reference_names(self, chat: ChatKey, author: Author, *, styles: bool) -> list[str]:
        """Reference names usable here, for autocomplete."""
        return await self._desk.names(chat, author, styles=styles)

    async def purge_older_than(self, days: float) -> int:
        """Delete turns (and then unused images) older than `days`."""
        return await self._housekeeping.purge_older_than(days)

    async def _own_user_turn(self, chat: ChatKey, turn_id: int) -> Turn | None:
        """The user turn behind `turn_id`, if it belongs to a lineage of `chat`."""
        if await self._store.lineage_chat(turn_id) != (chat.platform, chat.chat_id):
            return None
        turn = await self._store.get_turn(turn_id)
        if turn is not None and turn.role is Role.MODEL and turn.parent_id is not None:
            turn = await self._store.get_turn(turn.parent_id)
        return turn

    async def _resolve_parent(self, request: EditRequest) -> _Parent:
        """What the request continues: the one place that reads replies and the chat's latest.

        A reply to a message that shows a turn continues from that turn (a user turn's latest
        answer). A reply to any other message starts a lineage with that message's pictures
        before the user's own. Without a reply, a turn with no pictures of its own continues
        the chat's latest result when the adapter asks (private chats, the bot's threads).
        """
        target: Turn | None = None
        if request.reply_to is not None:
            target = await self._store.resolve_link(request.chat, request.reply_to)
            if target is None:
                return _Parent(None, (), request.reply_images)
        elif request.continue_latest and not request.images:
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
        status = self._answering.status(outbox, chat, user_turn, locale)
        try:
            outcome = await self._answering.answer(
                chat, author, user_turn, wanted, status, locale, notes, preloaded
            )
        finally:
            await status.aclose()  # no status update may follow the outcome
        return await self._deliver(chat, outbox, outcome, locale)

    async def _deliver(
        self, chat: ChatKey, outbox: Outbox, outcome: Outcome, locale: str | None
    ) -> Outcome:
        self._metrics.step_ended(outcome)  # before posting: the step ended, whatever the chat
        return await self._delivery.post(chat, outbox, outcome, locale)

    async def _fail(
        self,
        chat: ChatKey,
        outbox: Outbox,
        exc: BotError,
        locale: str | None,
        user_turn_id: int | None,
    ) -> Outcome:
        return await self._deliver(chat, outbox, failure_for(exc, locale, user_turn_id), locale)
