"""Policy changes: validated, versioned and audited."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.feedback import repository as repo
from services.feedback.domain.policy import SurveyPolicy, validate_policy
from shared import audit
from shared.tx import Actor, Tx


class VersionConflict(Exception):
    def __init__(self, current: int) -> None:
        super().__init__(f"the policy is at version {current}")
        self.current = current


async def change_policy(
    tx: Tx,
    *,
    policy: SurveyPolicy,
    expected_version: int | None,
    actor: Actor,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
) -> SurveyPolicy:
    """Validate, save (version + 1) and audit who changed what, when. `InvalidPolicy` or `VersionConflict`."""
    validate_policy(policy)
    current = await repo.lock_policy_version(tx.conn, channel=policy.channel)
    if expected_version is not None and current is not None and current != expected_version:
        raise VersionConflict(current)
    saved = await repo.save_policy(tx.conn, policy=policy, by=actor.subject, now=tx.now)
    await audit.record(
        tx.conn,
        actor=actor.subject,
        role=actor.role,
        action="survey_policy.update" if current is not None else "survey_policy.create",
        target=f"survey_policy:{policy.channel}",
        detail={"before": before, "after": after, "version": saved.version},
        at=tx.now,
    )
    return saved
