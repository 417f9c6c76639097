"""Many messages in one transaction: batches (one post, many items) and group commit (many concurrent single
posts sharing one transaction, each answered with its own outcome once that transaction commits). Each message
goes through the same core as a single post (`handlers/intake.py`), its writes held by `Staging`.

Committing is what costs on the accept path (a round trip for BEGIN and COMMIT, a WAL flush, a pooled
connection per post); under load, posts that arrive while the previous transactions are in flight wait
together and commit together. Nothing is answered before the transaction that holds it commits.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg
from opentelemetry.context import Context, get_current

from services.intake.domain.contact import Inbound, lock_keys, rounds
from services.intake.handlers.common import ATTEMPTS, RETRYABLE, SOURCE, Busy, LostRace, Tx, retried, transaction
from services.intake.handlers.intake import (
    Accepted,
    Accepting,
    accept_found,
    accept_one,
    duplicate_by_key,
    prepared,
)
from services.intake.handlers.writes import Writes
from services.intake.repository import contacts, customers
from shared.events import Event, OutgoingMessage, encode
from shared.outbox import enqueue_many
from shared.redact import describe
from shared.telemetry import attach, current_trace_carrier, detach

log = logging.getLogger(__name__)


async def accept_batch(
    pool: asyncpg.Pool, how: Accepting, items: list[tuple[Inbound, str | None]], *, adapter: str, now: datetime
) -> list[Accepted]:
    """Many messages in one transaction (one commit). The first run uses no savepoints (two round trips fewer
    per item); if any item loses a race, or the batch deadlocks with another writer, everything rolls back and
    the batch runs again with a savepoint per item, so a lost race is retried alone."""
    window = how.threads.retry_window
    work = [Item(prepared(inbound, retry_window=window, now=now), key, adapter, now) for inbound, key in items]
    try:
        return _all_accepted(await _group_once(pool, how, work, savepoints=False))
    except RETRYABLE:
        log.info("intake: a batch of %d collided; running it again item by item", len(items))
    for attempt in range(ATTEMPTS):
        try:
            return _all_accepted(await _group_once(pool, how, work, savepoints=True, isolate=False))
        except asyncpg.DeadlockDetectedError as exc:
            if attempt == ATTEMPTS - 1:
                raise Busy(str(exc)) from exc
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Item:
    """One message to accept, with who posted it and when: the unit of a batch or of a group commit."""

    inbound: Inbound
    """`prepared` when the batch or the group commit takes it in."""
    idempotency_key: str | None
    adapter: str
    now: datetime
    trace: Context | None = None
    """The trace context of the post, so its events and logs belong to its own request, not the group's."""


async def accept_group(pool: asyncpg.Pool, how: Accepting, items: Sequence[Item]) -> list[Accepted | Exception]:
    """Independent posts in one transaction (group commit), each with its own outcome: an item that fails gets
    its exception and the others still commit.

    The first run uses no savepoints; on any error everything rolls back and the group runs again with a
    savepoint per item, so a failing item is rolled back alone and a lost race is retried alone. An exception
    that escapes (the commit itself failed) means nothing of the group was stored.
    """
    if len(items) == 1:  # alone: no locks to take, no events to gather
        item = items[0]
        token = attach(item.trace) if item.trace is not None else None

        async def alone(tx: Tx) -> Accepted:
            return await accept_one(
                tx, how, item.inbound, adapter=item.adapter, idempotency_key=item.idempotency_key
            )

        try:
            return [await retried(pool, item.now, alone, what=f"a {item.inbound.channel} message")]
        except Busy as exc:
            return [exc]
        finally:
            if token is not None:
                detach(token)
    try:
        return await _group_once(pool, how, items, savepoints=False)
    except Exception as exc:  # noqa: BLE001 — whatever failed, the item-by-item run below finds whose it was
        log.info(
            "intake: a group of %d failed (%s); running it again item by item", len(items), type(exc).__name__
        )
    for attempt in range(ATTEMPTS):
        try:
            return await _group_once(pool, how, items, savepoints=True, isolate=True)
        except asyncpg.DeadlockDetectedError as exc:
            if attempt == ATTEMPTS - 1:
                return [Busy(str(exc)) for _ in items]
    raise AssertionError("unreachable")


def _all_accepted(results: list[Accepted | Exception]) -> list[Accepted]:
    accepted = [r for r in results if isinstance(r, Accepted)]
    assert len(accepted) == len(results), "without isolation an item's failure escapes"
    return accepted


async def _group_once(
    pool: asyncpg.Pool, how: Accepting, items: Sequence[Item], *, savepoints: bool, isolate: bool = False
) -> list[Accepted | Exception]:
    """One transaction over `items`, advisory locks on everything they could collide on taken first (sorted), so
    overlapping groups and batches wait for each other instead of deadlocking; the events of all items are
    written in one round trip before the commit. Without `savepoints`, every kind of statement is one round
    trip for many messages; with them, each message runs alone in its own savepoint, and with `isolate` its
    error other than a deadlock (which poisons the whole transaction) becomes its result instead of escaping."""
    if not savepoints:
        return await _group_at_once(pool, how, items)
    results: list[Accepted | Exception] = []
    staging = Staging()
    async with transaction(pool, max(item.now for item in items)) as tx:
        conn = tx.conn
        await contacts.lock(conn, keys=lock_keys([item.inbound for item in items]))
        for item in items:
            for attempt in range(ATTEMPTS):
                mark = staging.mark()
                try:
                    async with conn.transaction():
                        results.append(await _accept_item(tx, how, item, staging))
                    break
                except (asyncpg.UniqueViolationError, LostRace) as exc:
                    staging.rollback_to(mark)  # its savepoint was rolled back, and its events with it
                    if attempt == ATTEMPTS - 1:
                        if not isolate:
                            raise Busy(str(exc)) from exc
                        results.append(Busy(str(exc)))
                except asyncpg.DeadlockDetectedError:
                    raise
                except Exception as exc:
                    if not isolate:
                        raise
                    staging.rollback_to(mark)
                    log.warning(
                        "intake: a %s message failed alone in its group: %s", item.inbound.channel, describe(exc)
                    )
                    results.append(exc)
                    break
        await staging.write(tx)
    return results


async def _group_at_once(pool: asyncpg.Pool, how: Accepting, items: Sequence[Item]) -> list[Accepted | Exception]:
    """The fast run: round by round (messages that share a key with an earlier one wait for its round), every
    message of a round looked up in one round trip, their new customers and contacts written in one round trip
    each, and all events in one at the end. Any error escapes and rolls everything back."""
    results: dict[int, Accepted | Exception] = {}
    staging = Staging(defer=True)
    async with transaction(pool, max(item.now for item in items)) as tx:
        await contacts.lock(tx.conn, keys=lock_keys([item.inbound for item in items]))
        for batch in rounds([(item.inbound, item.idempotency_key) for item in items]):
            found = await contacts.lookup_many(tx.conn, inbounds=[items[n].inbound for n in batch])
            for n, lookup in zip(batch, found, strict=True):
                results[n] = await _accept_item(tx, how, items[n], staging, lookup)
            await staging.flush(tx)
        await staging.write(tx)
    return [results[n] for n in range(len(items))]


class Staging(Writes):
    """What a transaction that accepts many messages writes together. New customers and contacts wait (with
    `defer`) until `flush`, one round trip each for all of them, which the caller runs before anything could
    read them; the events wait until `write`, one round trip just before the commit, each with the trace context
    of the post it belongs to."""

    def __init__(self, *, defer: bool = False) -> None:
        self.defer = defer
        self._messages: list[OutgoingMessage] = []
        self._carriers: list[dict[str, str]] = []
        self._customers: list[customers.NewCustomer] = []
        self._contacts: list[contacts.NewContact] = []
        self._touched: set[uuid.UUID] = set()
        """Customers whose new rows wait for the next flush."""

    def add(self, message: OutgoingMessage) -> None:
        self._messages.append(message)
        self._carriers.append(current_trace_carrier())

    def mark(self) -> int:
        assert not self.defer, "items are rolled back alone only when nothing waits"
        return len(self._messages)

    def rollback_to(self, mark: int) -> None:
        """Forget what an item staged after `mark` (its savepoint was rolled back)."""
        del self._messages[mark:], self._carriers[mark:]

    def stage_customer(self, new: customers.NewCustomer) -> None:
        self._customers.append(new)
        self._touched.add(new.customer_id)

    def stage_contact(self, new: contacts.NewContact) -> None:
        self._contacts.append(new)
        self._touched.add(new.customer_id)

    async def settle(self, tx: Tx, customer_id: uuid.UUID) -> None:
        """Flush first if rows of this customer wait: what comes next reads them."""
        if customer_id in self._touched:
            await self.flush(tx)

    async def new_customer(self, tx: Tx, new: customers.NewCustomer) -> None:
        if self.defer:
            self.stage_customer(new)
        else:
            await super().new_customer(tx, new)

    async def new_contact(self, tx: Tx, new: contacts.NewContact) -> None:
        if self.defer:
            self.stage_contact(new)
        else:
            await super().new_contact(tx, new)

    async def publish(self, tx: Tx, event: Event, *, contact_id: uuid.UUID) -> None:
        self.add(encode(event, source=SOURCE, subject=str(contact_id), time=tx.now))

    async def flush(self, tx: Tx) -> None:
        """Write the customers and contacts staged so far; `LostRace` if another writer took an identity."""
        if self._customers:
            linked = await customers.insert_customers_with_identities(tx.conn, customers=self._customers)
            if any(n < len(c.identities) for n, c in zip(linked, self._customers, strict=True)):
                raise LostRace
        await contacts.insert_contacts_with_messages(tx.conn, contacts=self._contacts)
        self._customers, self._contacts, self._touched = [], [], set()

    async def write(self, tx: Tx) -> None:
        """Everything still staged, and the events, at the transaction's instant (the latest of its posts')."""
        await self.flush(tx)
        await enqueue_many(tx.conn, self._messages, now=tx.now, carriers=self._carriers)


async def _accept_item(
    tx: Tx, how: Accepting, item: Item, staging: Staging, found: contacts.Lookup | None = None
) -> Accepted:
    """One item through the core, its writes held by `staging`; `found` is its lookup when the round made it.
    The item is written at its own post's instant, in the group's transaction."""
    tx = replace(tx, now=item.now)
    token = attach(item.trace) if item.trace is not None else None
    try:
        duplicate = await duplicate_by_key(tx, adapter=item.adapter, idempotency_key=item.idempotency_key)
        if duplicate is not None:
            return duplicate
        if found is None:
            found = await contacts.lookup(tx.conn, inbound=item.inbound)
        return await accept_found(
            tx,
            how,
            item.inbound,
            adapter=item.adapter,
            idempotency_key=item.idempotency_key,
            found=found,
            writes=staging,
        )
    finally:
        if token is not None:
            detach(token)


@dataclass
class _Waiting:
    item: Item
    done: asyncio.Future[Accepted]


class QueueFull(Busy):
    """The group commit's queue (or this adapter's share of it) is full: nothing was stored, retry shortly."""


class GroupCommit:
    """Single posts committed together: a post joins the queue; up to `flushers` transactions run at once,
    each taking up to `max_items` waiting posts. A post on an idle service starts its transaction at once, so
    grouping adds no wait; under load the queue fills while transactions are in flight and groups grow.

    The queue is bounded: at most `max_waiting` posts wait, at most `max_waiting_per_adapter` of one adapter,
    so one flooding adapter is refused (`QueueFull`) while the others' posts still get in."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        how: Accepting,
        *,
        max_items: int,
        flushers: int,
        max_waiting: int = 2000,
        max_waiting_per_adapter: int = 500,
        on_group: Callable[[int], None] = lambda _size: None,
    ) -> None:
        self._pool = pool
        self._how = how
        self._on_group = on_group
        self._max_items = max(1, max_items)
        self._flushers = max(1, flushers)
        self._max_waiting = max(1, max_waiting)
        self._max_per_adapter = max(1, max_waiting_per_adapter)
        self._waiting_by_adapter: dict[str, int] = {}
        self._queue: deque[_Waiting] = deque()
        self._active = 0
        """Flushers running; counted here, not from task completion, so a post never waits on one that ends."""
        self._tasks: set[asyncio.Task[None]] = set()

    async def accept(self, item: Item) -> Accepted:
        """The post's own outcome once its transaction committed; `Busy` or the item's own error otherwise."""
        waiting = self._waiting_by_adapter.get(item.adapter, 0)
        if len(self._queue) >= self._max_waiting or waiting >= self._max_per_adapter:
            raise QueueFull(f"{len(self._queue)} posts wait to be committed, {waiting} of them from this adapter")
        done: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        inbound = prepared(item.inbound, retry_window=self._how.threads.retry_window, now=item.now)
        self._queue.append(_Waiting(replace(item, inbound=inbound, trace=get_current()), done))
        self._waiting_by_adapter[item.adapter] = waiting + 1
        if self._active < self._flushers:
            self._active += 1
            task = asyncio.create_task(self._flush(), name="intake-group-commit")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await done

    def waiting(self, adapter: str | None = None) -> int:
        """Posts in the queue, all or one adapter's."""
        return len(self._queue) if adapter is None else self._waiting_by_adapter.get(adapter, 0)

    def _taken(self, adapter: str) -> None:
        left = self._waiting_by_adapter.get(adapter, 1) - 1
        if left > 0:
            self._waiting_by_adapter[adapter] = left
        else:
            self._waiting_by_adapter.pop(adapter, None)

    async def _flush(self) -> None:
        try:
            while self._queue:
                group: list[_Waiting] = []
                while self._queue and len(group) < self._max_items:
                    waiting = self._queue.popleft()
                    self._taken(waiting.item.adapter)
                    if not waiting.done.done():  # its caller went away before its turn: not stored, not answered
                        group.append(waiting)
                if group:
                    await self._commit(group)
        finally:
            self._active -= 1  # no await since the queue was seen empty: a post added later starts a flusher

    async def _commit(self, group: list[_Waiting]) -> None:
        self._on_group(len(group))
        try:
            results = await accept_group(self._pool, self._how, [w.item for w in group])
        except Exception as exc:  # noqa: BLE001 — the transaction failed: nothing stored, every post learns why
            log.warning("intake: a group commit of %d failed: %s", len(group), describe(exc))
            results = [exc] * len(group)
        except BaseException as exc:  # cancelled (shutdown): the posts waiting on it must not hang
            for waiting in group:
                if not waiting.done.done():
                    waiting.done.set_exception(Busy("the service is stopping"))
            raise exc
        for waiting, result in zip(group, results, strict=True):
            if waiting.done.done():
                continue
            if isinstance(result, Exception):
                waiting.done.set_exception(result)
            else:
                waiting.done.set_result(result)
