"""Survey comment retention is data an admin edits through feedback's API (validated, versioned, audited), and the
scheduler's purge applies the value in force."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.feedback.scheduler import Scheduler
from tests.integration.feedback.conftest import Feedback
from tests.integration.feedback.test_figures import answered

pytestmark = pytest.mark.integration


async def test_the_purge_keeps_comments_as_long_as_the_retention_in_force_says(feedback: Feedback) -> None:
    await answered(feedback, {"csat": "1", "comment": "等了太久"})
    scheduler: Scheduler = feedback.state.scheduler
    month_on = feedback.clock.now() + timedelta(days=40)
    async with feedback.client() as client:
        seeded = await client.get("/v1/feedback/settings", headers=feedback.token("supervisor"))
        assert seeded.json() == {"comment_retention_days": 365, "version": 1} and seeded.headers["etag"] == '"1"'
        assert await scheduler.purge(month_on) == 0, "a year by default"

        saved = await client.put(
            "/v1/feedback/settings",
            json={"comment_retention_days": 30},
            headers={**feedback.token("admin", "ad-3"), "If-Match": '"1"'},
        )
        assert saved.status_code == 200, saved.text
        assert saved.json() == {"comment_retention_days": 30, "version": 2}
        assert await scheduler.purge(month_on) == 1
        stale = await client.put(
            "/v1/feedback/settings",
            json={"comment_retention_days": 60},
            headers={**feedback.token("admin"), "If-Match": '"1"'},
        )
        assert stale.status_code == 412 and stale.json()["version"] == 2

    row = await feedback.pool.fetchrow(
        "SELECT actor, role, detail FROM audit_trail WHERE action = 'feedback_settings.update'"
    )
    assert row is not None and (row["actor"], row["role"]) == ("ad-3", "admin")
    assert row["detail"] == {
        "before": {"comment_retention_days": 365},
        "after": {"comment_retention_days": 30},
        "version": 2,
    }


@pytest.mark.parametrize(
    "body",
    [{"comment_retention_days": 0}, {"comment_retention_days": "a year"}, {"comment_retention_days": 99_999}],
)
async def test_a_bad_retention_is_refused_naming_the_field(feedback: Feedback, body: dict[str, object]) -> None:
    async with feedback.client() as client:
        refused = await client.put("/v1/feedback/settings", json=body, headers=feedback.token("admin"))
        assert refused.status_code == 422 and "comment_retention_days" in refused.json()["detail"]
        unknown = await client.put(
            "/v1/feedback/settings",
            json={"comment_retention_days": 30, "contact_retention_days": 10},
            headers=feedback.token("admin"),
        )
        assert unknown.status_code == 422 and "contact_retention_days" in unknown.json()["detail"]
        kept = await client.get("/v1/feedback/settings", headers=feedback.token("ops"))
        assert kept.json()["version"] == 1


async def test_only_admins_change_the_settings(feedback: Feedback) -> None:
    async with feedback.client() as client:
        body = {"comment_retention_days": 30}
        for role in ("supervisor", "ops", "agent"):
            response = await client.put("/v1/feedback/settings", json=body, headers=feedback.token(role))
            assert response.status_code == 403
        assert (await client.get("/v1/feedback/settings", headers=feedback.token("agent"))).status_code == 403
