"""What counts as a passing failure (retried as long as it lasts) and what does not (bad data, a bug), and the
waits between tries."""

from __future__ import annotations

import asyncpg
import pydantic
import pytest
from aiokafka import errors as kafka

from shared.faults import Backoff, producer_broken, refused_by_broker, transient, unavailable
from shared.redact import describe, record_error

AWAY = [
    ConnectionRefusedError(111, "Connect call failed"),
    OSError("Multiple exceptions: [Errno 111] Connect call failed"),
    TimeoutError(),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.InterfaceError("cannot call Connection.fetchval(): the underlying connection is closed"),
    asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
    kafka.KafkaConnectionError("Connection at localhost:9092 closed"),
    kafka.KafkaTimeoutError(),
    kafka.RequestTimedOutError(),
    kafka.NotLeaderForPartitionError(),
]
CONTENTION = [
    asyncpg.SerializationError("could not serialize access"),
    asyncpg.DeadlockDetectedError("deadlock detected"),
    asyncpg.LockNotAvailableError("canceling statement due to lock timeout"),
]
NOT_TRANSIENT = [
    ValueError("bad data"),
    KeyError("missing"),
    asyncpg.UniqueViolationError("duplicate key"),
    asyncpg.DataError("invalid input syntax"),
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    kafka.MessageSizeTooLargeError(),
    kafka.ProducerClosed(),
]


@pytest.mark.parametrize("exc", AWAY, ids=lambda e: type(e).__name__)
def test_a_dependency_away_is_transient_and_unavailable(exc: BaseException) -> None:
    assert transient(exc) and unavailable(exc)


@pytest.mark.parametrize("exc", CONTENTION, ids=lambda e: type(e).__name__)
def test_contention_between_transactions_is_transient_but_nothing_is_unavailable(exc: BaseException) -> None:
    assert transient(exc) and not unavailable(exc)


@pytest.mark.parametrize("exc", NOT_TRANSIENT, ids=lambda e: type(e).__name__)
def test_bad_data_and_bugs_are_not_transient(exc: BaseException) -> None:
    assert not transient(exc)


def test_only_refusals_of_the_message_itself_park_it() -> None:
    assert refused_by_broker(kafka.MessageSizeTooLargeError())
    assert refused_by_broker(kafka.InvalidTopicError())
    assert not refused_by_broker(kafka.RequestTimedOutError()), "passes: sent again later"
    assert not refused_by_broker(kafka.OutOfOrderSequenceNumber()), "the producer's state, not the message"
    assert producer_broken(kafka.OutOfOrderSequenceNumber()) and not producer_broken(kafka.ProducerClosed())


def test_backoff_doubles_up_to_its_ceiling_with_jitter_and_starts_over_after_a_success() -> None:
    backoff = Backoff(0.1, 1.0)
    delays = [backoff.next() for _ in range(8)]
    steps = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    assert all(step / 2 <= delay <= step for delay, step in zip(delays, steps, strict=True)), delays
    assert len({round(d, 9) for d in delays[4:]}) > 1, "jitter: retries of many loops do not line up"
    backoff.reset()
    assert 0.05 <= backoff.next() <= 0.1


CUSTOMER = ("张三", "zhang.san@example.com", "13812345678")


def _leaks(text: str) -> list[str]:
    return [value for value in CUSTOMER if value in text]


def test_a_database_error_is_described_by_its_state_and_objects_never_by_the_values_it_quotes() -> None:
    duplicate = asyncpg.PostgresError.new(
        {
            "S": "ERROR",
            "C": "23505",
            "M": 'duplicate key value violates unique constraint "customer_email_key"',
            "D": "Key (email)=(zhang.san@example.com) already exists.",
            "n": "customer_email_key",
            "t": "customer",
        }
    )
    assert "zhang.san@example.com" in str(duplicate), "asyncpg's own text carries the value (the DETAIL line)"
    assert describe(duplicate) == (
        'UniqueViolationError: SQLSTATE 23505: duplicate key value violates unique constraint "customer_email_key"'
    )
    bad_input = asyncpg.PostgresError.new(
        {"S": "ERROR", "C": "22P02", "M": 'invalid input syntax for type uuid: "张三 13812345678"'}
    )
    assert (
        describe(bad_input)
        == 'InvalidTextRepresentationError: SQLSTATE 22P02: invalid input syntax for type uuid: "…"'
    )


def test_a_validation_error_is_described_by_field_and_rule_without_its_input() -> None:
    class Customer(pydantic.BaseModel):
        age: int

    with pytest.raises(pydantic.ValidationError) as raised:
        Customer.model_validate({"age": " ".join(CUSTOMER)})
    assert _leaks(str(raised.value)), "pydantic's own text carries the input"
    text = describe(raised.value)
    assert _leaks(text) == []
    assert text.startswith(
        "ValidationError: 1 validation error(s) for Customer: age: Input should be a valid integer"
    )


def test_anything_else_keeps_its_text_with_addresses_and_numbers_masked_and_is_cut_at_the_limit() -> None:
    text = describe(ValueError("no customer for zhang.san@example.com or 13812345678"))
    assert text == "ValueError: no customer for z***@example.com or 138****78"
    assert len(describe(ValueError("x" * 5000))) == 500
    assert len(describe(ValueError("x" * 5000), limit=2000)) == 2000


def test_a_failure_recorded_on_a_span_carries_the_described_message_and_the_frames_only() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    span = TracerProvider().get_tracer("t").start_span("s")
    _, email, phone = CUSTOMER
    try:
        raise ValueError(f"no customer for {email} or {phone}")
    except ValueError as exc:
        record_error(span, exc)
    span.end()
    (event,) = span.events  # type: ignore[attr-defined]
    attributes = dict(event.attributes)
    assert attributes["exception.type"] == "ValueError"
    assert attributes["exception.message"] == "ValueError: no customer for z***@example.com or 138****78"
    assert "test_faults.py" in attributes["exception.stacktrace"], "the frames are kept"
    assert _leaks(" ".join(str(v) for v in attributes.values())) == []


def test_a_logged_traceback_keeps_its_frames_and_drops_the_personal_data_of_its_message() -> None:
    import json
    import logging
    import sys

    from shared.telemetry import JsonFormatter, RedactingFormatter

    _, email, phone = CUSTOMER
    try:
        raise ValueError(f"no customer for {email} or {phone}")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "handling failed", None, sys.exc_info())
    logged = json.loads(JsonFormatter("intake").format(record))
    assert "test_faults.py" in logged["exc"] and "raise ValueError" in logged["exc"], "the frames are kept"
    assert logged["exc"].endswith("ValueError: no customer for z***@example.com or 138****78")
    plain = RedactingFormatter("%(message)s").format(record)
    assert _leaks(logged["exc"] + plain) == []


def test_a_request_validation_error_is_described_without_its_input() -> None:
    from fastapi.exceptions import RequestValidationError

    name, email, _ = CUSTOMER
    error = RequestValidationError(
        [{"type": "string_too_long", "loc": ("body", "text"), "msg": "String should have at most 5 characters",
          "input": f"{name} {email}"}]
    )  # fmt: skip
    assert _leaks(str(error)), "FastAPI's own text carries the input"
    assert describe(error) == (
        "RequestValidationError: 1 validation error(s): body.text: String should have at most 5 characters"
    )
