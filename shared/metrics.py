"""Prometheus metrics: one registry per app, the delivery path's figures read at scrape time.

Hot paths only bump counters they already keep (consumer stats, relay counts); this module turns them into
metrics when `/metrics` is scraped. Services add their own metrics to `registry` (queue depth, handle times).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.kafka import ConsumerLoop
from shared.outbox import OutboxRelay

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Tasks(Protocol):
    def failures(self) -> dict[str, str]: ...

    def names(self) -> Iterable[str]: ...

    def restarts(self) -> dict[str, int]: ...


class DeliveryCollector(Collector):
    """Consumer outcomes and lag, outbox throughput, backlog and parked rows, background task health."""

    def __init__(
        self,
        consumers: Callable[[], Sequence[ConsumerLoop]],
        relay: Callable[[], OutboxRelay | None],
        tasks: Callable[[], _Tasks | None],
    ) -> None:
        self._consumers = consumers
        self._relay = relay
        self._tasks = tasks
        self.outbox_backlog = 0
        """Set by the `/metrics` handler just before a scrape (it needs a query)."""
        self.outbox_parked = 0
        """Likewise: outbox rows the broker refused, parked until an operator acts."""

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "switchboard_consumer_events", "Consumed events by group and outcome", labels=["group", "outcome"]
        )
        lag = GaugeMetricFamily(
            "switchboard_consumer_lag",
            "Records behind the partition's end",
            labels=["group", "topic", "partition"],
        )
        for loop in self._consumers():
            stats = loop.stats
            for outcome, value in (
                ("handled", stats.handled),
                ("skipped", stats.skipped),
                ("retried", stats.retries),
                ("waited", stats.waits),
                ("dead_lettered", stats.dead_lettered),
            ):
                events.add_metric([loop.group, outcome], value)
            for key, behind in stats.lag.items():
                topic, _, partition = key.rpartition(":")
                lag.add_metric([loop.group, topic, partition], behind)
        yield events
        yield lag
        relay = self._relay()
        if relay is not None:
            yield CounterMetricFamily(
                "switchboard_outbox_published", "Outbox rows published to Kafka", value=relay.published
            )
            yield CounterMetricFamily(
                "switchboard_outbox_failures", "Relay batches the broker did not take", value=relay.failures
            )
            by_type = CounterMetricFamily(
                "switchboard_events_published",
                "Events this service announced, by type (offers by outcome, SLA events by kind, surveys, …)",
                labels=["type"],
            )
            for event_type, count in sorted(relay.published_by_type.items()):
                by_type.add_metric([event_type], count)
            yield by_type
        yield GaugeMetricFamily("switchboard_outbox_backlog", "Outbox rows waiting", value=self.outbox_backlog)
        yield GaugeMetricFamily(
            "switchboard_outbox_parked",
            "Outbox rows the broker refuses (too large, …): parked, not published, until an operator acts",
            value=self.outbox_parked,
        )
        tasks = self._tasks()
        if tasks is not None:
            up = GaugeMetricFamily(
                "switchboard_background_task_up", "1 while a background task runs", labels=["task"]
            )
            failed = tasks.failures()
            restarts = CounterMetricFamily(
                "switchboard_background_task_restarts",
                "Times a background task died and was started again",
                labels=["task"],
            )
            counts = tasks.restarts()
            for name in tasks.names():
                up.add_metric([name], 0 if name in failed else 1)
                restarts.add_metric([name], counts.get(name, 0))
            yield up
            yield restarts


class CountOf(Collector):
    """A counter this instance already keeps (a background loop's tally), read at scrape time: one value, or one
    value per label when `read` returns a mapping."""

    def __init__(
        self,
        name: str,
        documentation: str,
        read: Callable[[], float | Mapping[str, float]],
        *,
        label: str = "outcome",
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.read = read
        self.label = label

    def collect(self) -> Iterator[Metric]:
        value = self.read()
        if not isinstance(value, Mapping):
            yield CounterMetricFamily(self.name, self.documentation, value=value)
            return
        family = CounterMetricFamily(self.name, self.documentation, labels=[self.label])
        for label, count in sorted(value.items()):
            family.add_metric([label], count)
        yield family


class HttpMetrics:
    """Requests by route template and status, and their durations."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "switchboard_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry
        )
        self.seconds = Histogram(
            "switchboard_http_request_seconds",
            "HTTP request duration",
            ["method", "route"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in ("/metrics", "/health/live", "/health/ready"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.requests.labels(scope["method"], route, str(status)).inc()
            self.seconds.labels(scope["method"], route).observe(time.perf_counter() - started)
