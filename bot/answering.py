"""Answer one stored user turn: plan the context, call the model (stoppable), store the answer.

The result is an `Outcome` for the caller to deliver: one step delivers it at once, Variations
gathers several answers to the same turn first. The user turn is already stored; whatever
happens here, it is marked answered, failed or stopped, or (on shutdown) left pending for the
interrupted-step announcement.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

from bot import messages
from bot.actions import ActionRegistry
from bot.capabilities import ModelCapabilities
from bot.delivery import Outbox
from bot.errors import ModelError
from bot.explain import failure_for
from bot.limits import ModelGate
from bot.lineage import ContextBudget, ContextTurn, ImageRef, Part, Turn, TurnStatus, plan_context
from bot.metrics import Metrics
from bot.model import GenerationSettings, ImageLoader, ModelAnswer, OnThought
from bot.outcome import Failure, FailureKind, Outcome, ResultImage, Success
from bot.progress import DraftEncoder, StatusPacer, StepStatus
from bot.region_edits import blended, mask_of
from bot.request import Author, ChatKey
from bot.running import RunningCalls
from bot.standard_actions import STOP
from bot.store import Store

log = logging.getLogger(__name__)


class ImageModel(Protocol):
    """The model port: the core's context plan in, the core's answer out (no SDK types)."""

    async def generate(
        self,
        turns: Sequence[ContextTurn],
        load: ImageLoader,
        wanted: GenerationSettings,
        on_thought: OnThought | None = None,
    ) -> ModelAnswer:
        """Answer the plan's turns; raise `ModelError` when the model cannot answer.

        With `on_thought`, hand over the model's thoughts (drafts) as they arrive.
        """


class Answering:
    """Runs model calls for stored user turns; knows the calls in flight, for Stop."""

    def __init__(
        self,
        store: Store,
        model: ImageModel,
        gate: ModelGate,
        actions: ActionRegistry,
        caps: Callable[[str], ModelCapabilities],
        context_budget_bytes: int,
        metrics: Metrics,
    ) -> None:
        self._store = store
        self._model = model
        self._gate = gate
        self._actions = actions
        self._caps = caps
        self._budget_bytes = context_budget_bytes
        self._metrics = metrics
        self.running = RunningCalls(store.coordination)
        self._pacer = StatusPacer()
        self._drafts = DraftEncoder()

    def status(
        self, outbox: Outbox, chat: ChatKey, user_turn: Turn, locale: str | None
    ) -> StepStatus:
        """The status message (queue position, drafts, Stop) of answers to `user_turn`."""
        stop = self._actions.button(STOP, user_turn.id, locale)
        return StepStatus(outbox, self._pacer, self._drafts, chat, stop, locale)

    async def answer(
        self,
        chat: ChatKey,
        author: Author,
        user_turn: Turn,
        wanted: GenerationSettings,
        status: StepStatus,
        locale: str | None,
        notes: tuple[str, ...] = (),
        preloaded: dict[ImageRef, bytes] | None = None,
        *,
        mark_failed: bool = True,
    ) -> Outcome:
        """Answer `user_turn` once; the outcome is stored but not delivered.

        A failure marks the turn failed unless `mark_failed` is False (a Variation of a turn
        that has its answer already).
        """
        caps = self._caps(wanted.model)
        path = await self._store.path(user_turn.parent_id) if user_turn.parent_id else []
        budget = ContextBudget(max_images=caps.max_input_images, max_bytes=self._budget_bytes)
        plan = plan_context(path, user_turn.parts, budget)
        cached = preloaded or {}

        async def load(ref: ImageRef) -> bytes:
            data = cached.get(ref)
            return data if data is not None else await self._store.read_image(ref)

        on_thought = status.thought if wanted.thoughts else None
        loop = asyncio.get_running_loop()
        started = [0.0]

        async def call() -> ModelAnswer:
            async with self._gate.slot(status.queued):
                started[0] = loop.time()  # the model's time, not the queue's
                with self._metrics.model_call():
                    return await self._model.generate(plan.turns, load, wanted, on_thought)

        try:
            answer = await self._stoppable(call, chat, author, user_turn)
        except _Stopped:
            log.info("turn %d (lineage %d): stopped", user_turn.id, user_turn.lineage_id)
            await self._failed(user_turn, "stopped", mark_failed)
            text = messages.text("stopped", locale)
            return Failure(FailureKind.STOPPED, text, user_turn.id, retryable=True)
        except ModelError as exc:
            log.warning(
                "turn %d (lineage %d): model failed: %s: %s",
                user_turn.id,
                user_turn.lineage_id,
                type(exc).__name__,
                exc,
            )
            await self._failed(user_turn, type(exc).__name__, mark_failed)
            return failure_for(exc, locale, user_turn.id)
        except Exception:
            log.exception("turn %d (lineage %d): step failed", user_turn.id, user_turn.lineage_id)
            await self._failed(user_turn, "internal", mark_failed)
            text = messages.text("internal_error", locale)
            return Failure(FailureKind.INTERNAL, text, user_turn.id, retryable=True)
        if plan.rebased:
            notes += (messages.text("done_note_rebased", locale),)
        usage = answer.usage
        usage = dataclasses.replace(
            usage,
            seconds=loop.time() - started[0],
            cost_usd=caps.estimated_cost(usage.prompt_tokens, usage.images, wanted.image_size),
            image_size=wanted.image_size,
            aspect_ratio=wanted.aspect_ratio,
        )
        answer = dataclasses.replace(answer, usage=usage)
        mask = mask_of(user_turn)
        region = mask is not None and bool(path and path[-1].images and answer.images)
        if region and mask is not None:
            # Nothing outside the marked region may move: blend into the clean original.
            answer = await blended(answer, await load(path[-1].images[-1]), await load(mask))
            notes += (messages.text("region_note", locale),)
        return await self._store_answer(
            chat,
            author,
            user_turn,
            wanted,
            answer,
            notes,
            locale,
            rebased=plan.rebased,
            region=region,
        )

    async def _failed(self, user_turn: Turn, why: str, mark: bool) -> None:
        if mark:
            await self._store.set_status(user_turn.id, TurnStatus.FAILED, why)

    async def _stoppable(
        self,
        call: Callable[[], Coroutine[Any, Any, ModelAnswer]],
        chat: ChatKey,
        author: Author,
        user_turn: Turn,
    ) -> ModelAnswer:
        """Run `call` in its own task, so that Stop cancels the call and nothing else."""
        task = asyncio.create_task(call(), name=f"model-call-{user_turn.id}")
        with self.running.register(user_turn.id, chat, author.user_id, task) as running:
            try:
                return await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if not running.stopped or (current is not None and current.cancelling()):
                    raise  # shutdown, not Stop: the turn stays pending, announced later
                raise _Stopped from None

    async def _store_answer(
        self,
        chat: ChatKey,
        author: Author,
        user_turn: Turn,
        wanted: GenerationSettings,
        answer: ModelAnswer,
        notes: tuple[str, ...],
        locale: str | None,
        *,
        rebased: bool,
        region: bool = False,
    ) -> Success:
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
            ", rebased" if rebased else "",
        )
        images = tuple(
            ResultImage(p.image, p.mime_type or "image/png")
            for p in answer.images
            if p.image is not None
        )
        shown = answer.text if images else messages.text("text_only", locale, text=answer.text)
        return Success(
            user_turn.id,
            model_turn.id,
            images,
            shown,
            notes,
            rebased,
            answer.sources,
            wanted.model,
            wanted.image_size,
            region=region,
        )


class _Stopped(Exception):
    """Someone pressed Stop on the call."""
