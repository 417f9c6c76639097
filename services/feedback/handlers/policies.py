"""Policy changes: validated, versioned and audited."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.feedback import repository as repo
from services.feedback.domain.policy import SurveyPolicy, validate_policy
from shared import audit
from shared.db import Conn


class VersionConflict(Exception):
    def __init__(self, current: int) -> None:
        super().__init__(f"the policy is at version {current}")
        self.current = current


async def change_policy(
    conn: Conn,
    *,
    policy: SurveyPolicy,
    expected_version: int | None,
    actor: str,
    role: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    now: datetime,
) -> SurveyPolicy:
    """Validate, save (version + 1) and audit who changed what, when. `InvalidPolicy` or `VersionConflict`."""
    validate_policy(policy)
    current = await repo.lock_policy_version(conn, channel=policy.channel)
    if expected_version is not None and current is not None and current != expected_version:
        raise VersionConflict(current)
    saved = await repo.save_policy(conn, policy=policy, by=actor, now=now)
    await audit.record(
        conn,
        actor=actor,
        role=role,
        action="survey_policy.update" if current is not None else "survey_policy.create",
        target=f"survey_policy:{policy.channel}",
        detail={"before": before, "after": after, "version": saved.version},
        at=now,
    )
    return saved
