"""A transaction PostgreSQL aborted for contention is run again; anything else is not."""

from __future__ import annotations

import asyncpg
import pytest

from shared.tx import with_retries


class Attempts:
    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


async def test_a_deadlock_or_serialization_failure_is_run_again_until_it_passes() -> None:
    attempt = Attempts(asyncpg.DeadlockDetectedError("deadlock detected"), asyncpg.SerializationError("x"))
    assert await with_retries(attempt) == "done"
    assert attempt.calls == 3


async def test_contention_past_the_tries_is_raised_for_the_caller_to_answer() -> None:
    attempt = Attempts(*(asyncpg.DeadlockDetectedError("deadlock detected") for _ in range(3)))
    with pytest.raises(asyncpg.DeadlockDetectedError):
        await with_retries(attempt, tries=3)
    assert attempt.calls == 3


async def test_anything_else_is_raised_at_once() -> None:
    attempt = Attempts(ValueError("bad data"))
    with pytest.raises(ValueError, match="bad data"):
        await with_retries(attempt)
    assert attempt.calls == 1
