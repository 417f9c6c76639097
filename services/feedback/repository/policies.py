"""Survey policies (their audit is `shared/audit.py`'s)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.feedback.domain.policy import QuietHours, SurveyPolicy, questions_from_json, questions_to_json
from shared.db import Conn

_POLICY_COLUMNS = """
channel, enabled, invite_channel, delay, expiry, quiet_start, quiet_end, time_zone, frequency_cap,
sampling_rate, questions, languages, low_csat_max, low_nps_max, version, updated_at, updated_by
"""


def _policy(row: asyncpg.Record) -> SurveyPolicy:
    quiet = None
    if row["quiet_start"] is not None and row["quiet_end"] is not None:
        quiet = QuietHours(row["quiet_start"], row["quiet_end"])
    return SurveyPolicy(
        channel=row["channel"],
        enabled=row["enabled"],
        invite_channel=row["invite_channel"],
        delay=row["delay"],
        expiry=row["expiry"],
        quiet_hours=quiet,
        time_zone=row["time_zone"],
        frequency_cap=row["frequency_cap"],
        sampling_rate=row["sampling_rate"],
        questions=questions_from_json(row["questions"]),
        languages=tuple(row["languages"]),
        low_csat_max=row["low_csat_max"],
        low_nps_max=row["low_nps_max"],
        version=row["version"],
        extras={"updated_at": row["updated_at"], "updated_by": row["updated_by"]},
    )


SELECT_POLICIES = "SELECT" + _POLICY_COLUMNS + "FROM survey_policy ORDER BY channel"


async def list_policies(conn: Conn) -> list[SurveyPolicy]:
    return [_policy(r) for r in await conn.fetch(SELECT_POLICIES)]


SELECT_POLICY = "SELECT" + _POLICY_COLUMNS + "FROM survey_policy WHERE channel = $1"


async def get_policy(conn: Conn, *, channel: str) -> SurveyPolicy | None:
    row = await conn.fetchrow(SELECT_POLICY, channel)
    return None if row is None else _policy(row)


UPSERT_POLICY = (
    """
INSERT INTO survey_policy (
    channel, enabled, invite_channel, delay, expiry, quiet_start, quiet_end, time_zone, frequency_cap,
    sampling_rate, questions, languages, low_csat_max, low_nps_max, version, updated_at, updated_by
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, $15, $16)
ON CONFLICT (channel) DO UPDATE SET
    enabled = EXCLUDED.enabled, invite_channel = EXCLUDED.invite_channel, delay = EXCLUDED.delay,
    expiry = EXCLUDED.expiry, quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end,
    time_zone = EXCLUDED.time_zone, frequency_cap = EXCLUDED.frequency_cap,
    sampling_rate = EXCLUDED.sampling_rate, questions = EXCLUDED.questions, languages = EXCLUDED.languages,
    low_csat_max = EXCLUDED.low_csat_max, low_nps_max = EXCLUDED.low_nps_max,
    version = survey_policy.version + 1, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
RETURNING"""
    + _POLICY_COLUMNS
)


async def save_policy(conn: Conn, *, policy: SurveyPolicy, by: str, now: datetime) -> SurveyPolicy:
    """Insert or replace the channel's policy; the version goes up by one on every change."""
    quiet = policy.quiet_hours
    row = await conn.fetchrow(
        UPSERT_POLICY,
        policy.channel,
        policy.enabled,
        policy.invite_channel,
        policy.delay,
        policy.expiry,
        None if quiet is None else quiet.start,
        None if quiet is None else quiet.end,
        policy.time_zone,
        policy.frequency_cap,
        policy.sampling_rate,
        questions_to_json(policy.questions),
        list(policy.languages),
        policy.low_csat_max,
        policy.low_nps_max,
        now,
        by,
    )
    assert row is not None
    return _policy(row)


LOCK_POLICY = "SELECT version FROM survey_policy WHERE channel = $1 FOR UPDATE"


async def lock_policy_version(conn: Conn, *, channel: str) -> int | None:
    version = await conn.fetchval(LOCK_POLICY, channel)
    return None if version is None else int(version)
