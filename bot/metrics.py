"""What an instance counts for Prometheus: steps, model latency, queue, images, database errors.

Each `Metrics` has a registry of its own rather than prometheus-client's global one, so several
bots in one process (the tests) never share or clash over a counter. Gauges that mirror state
elsewhere (the model queue, steps in flight) are read when scraped, never kept in step.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from bot.errors import BotError
from bot.outcome import Outcome, Success
from bot.store import Store

# Model calls take seconds to a minute (thinking models at 4K): buckets span that.
MODEL_SECONDS_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
# Answers under the store's contract and the core's refusals, not database failures.
_NOT_FAILURES = (LookupError, FileNotFoundError, BotError)


class Metrics:
    """The instance's metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._steps = Counter(
            "bananabot_steps",
            "Editing steps by how they ended: success, or the failure kind",
            ["outcome"],
            registry=self.registry,
        )
        self._model_seconds = Histogram(
            "bananabot_model_call_seconds",
            "Seconds a model call took, its wait for a slot excluded",
            buckets=MODEL_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self._in_flight = Gauge(
            "bananabot_steps_in_flight",
            "Steps admitted and not yet answered",
            registry=self.registry,
        )
        self._queue_depth = Gauge(
            "bananabot_model_queue_depth",
            "Steps waiting for a model slot ([gemini] max_concurrent_requests)",
            registry=self.registry,
        )
        self._images = Gauge(
            "bananabot_images_stored",
            "Distinct images in the store (counted when scraped)",
            registry=self.registry,
        )
        self.database_errors = Counter(
            "bananabot_database_errors",
            "Store calls that failed, by store method",
            ["operation"],
            registry=self.registry,
        )

    def step_ended(self, outcome: Outcome) -> None:
        """Count one step's outcome."""
        self._steps.labels("success" if isinstance(outcome, Success) else outcome.kind.value).inc()

    @contextmanager
    def step(self) -> Iterator[None]:
        """Count a step in flight while the block runs."""
        self._in_flight.inc()
        try:
            yield
        finally:
            self._in_flight.dec()

    @contextmanager
    def model_call(self) -> Iterator[None]:
        """Time the model call the block makes, answered or failed.

        A cancelled call (Stop, shutdown) never ended, so it is no sample.
        """
        started = time.perf_counter()
        try:
            yield
        except asyncio.CancelledError:
            raise
        except BaseException:
            self._model_seconds.observe(time.perf_counter() - started)
            raise
        self._model_seconds.observe(time.perf_counter() - started)

    def watch_queue(self, waiting: Callable[[], int]) -> None:
        """Read the queue depth from `waiting` at each scrape."""
        self._queue_depth.set_function(lambda: float(waiting()))

    def images_stored(self, count: int) -> None:
        """The image count read for this scrape."""
        self._images.set(count)

    def exposition(self, accept: str) -> tuple[bytes, str]:
        """Every metric and its content type, in the format the `Accept` header asks for
        (Prometheus text; OpenMetrics for a scraper that prefers it)."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type


class CountingCalls:
    """A store (or its coordination port) whose failed calls count as database errors; it
    forwards everything else.

    Forwarding by name keeps it out of the way of the ports' growth: a method added there is
    counted without a change here. Answers the contract asks for (`LookupError` for an unknown
    parent, `FileNotFoundError` for an image gone) and the core's own refusals (`BotError`: a
    quota a hold would pass) are not failures.
    """

    def __init__(self, target: object, errors: Counter, prefix: str = "") -> None:
        self._target = target
        self._errors = errors
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._target, name)
        if name == "coordination":  # the store's other port, on the same database
            wrapped: Any = CountingCalls(found, self._errors, "coordination.")
        elif asyncio.iscoroutinefunction(found):
            wrapped = self._counted(self._prefix + name, found)
        else:
            return found
        setattr(self, name, wrapped)  # looked up once per name, then an instance attribute
        return wrapped

    def _counted(
        self, name: str, call: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        errors = self._errors.labels(name)

        @functools.wraps(call)
        async def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                return await call(*args, **kwargs)
            except _NOT_FAILURES:
                raise
            except Exception:
                errors.inc()
                raise

        return counted


def counting(store: Store, metrics: Metrics) -> Store:
    """`store`, counting its failed calls in `metrics`."""
    # CountingCalls implements the protocol by forwarding, which mypy cannot see.
    return cast("Store", CountingCalls(store, metrics.database_errors))
