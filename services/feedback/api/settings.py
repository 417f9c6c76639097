"""`/v1/feedback/settings`: feedback's RULES.md numbers outside the survey policies (survey comment retention) as
data: read by supervisors, admins and ops, replaced by admins (validated, versioned, audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from services.feedback.api.dependencies import Admin, FeedbackState, Reader, actor_of, transaction
from services.feedback.domain.settings import MAX_RETENTION_DAYS, InvalidSettings, Settings
from services.feedback.handlers.settings import SettingsVersionConflict, change_settings
from shared.errors import Problem
from shared.openapi import example

router = APIRouter(tags=["feedback"])


class SettingsBody(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(comment_retention_days=365)

    comment_retention_days: int = Field(ge=1, le=MAX_RETENTION_DAYS)
    """Survey comments are erased this many days after the answer (RULES.md: 1 year); the scores stay."""


class SettingsOut(SettingsBody):
    model_config = example(comment_retention_days=365, version=2)

    version: int


def _out(settings: Settings, response: Response) -> SettingsOut:
    response.headers["ETag"] = f'"{settings.version}"'
    return SettingsOut(version=settings.version, **settings.document())


@router.get("/v1/feedback/settings", response_model=SettingsOut)
async def get_settings(state: FeedbackState, response: Response, _who: Reader) -> SettingsOut:
    async with transaction(state) as tx:
        return _out(await state.settings_cache.get(tx.conn), response)


@router.put("/v1/feedback/settings", response_model=SettingsOut)
async def put_settings(
    body: SettingsBody,
    state: FeedbackState,
    response: Response,
    who: Admin,
    if_match: Annotated[str | None, Header()] = None,
) -> SettingsOut:
    """A new version, in force at the scheduler's next purge (hourly); `If-Match: "<version>"` refuses the change
    (412) if someone else changed the settings first."""
    expected: int | None = None
    if if_match is not None:
        try:
            expected = int(if_match.strip('"W/ '))
        except ValueError as exc:
            raise Problem(422, "Validation failed", "If-Match: a version number", kind="validation") from exc
    try:
        async with transaction(state) as tx:
            saved = await change_settings(
                tx, document=body.model_dump(), expected_version=expected, actor=actor_of(who)
            )
    except InvalidSettings as exc:
        raise Problem(422, "Validation failed", str(exc), kind="validation") from exc
    except SettingsVersionConflict as exc:
        raise Problem(412, "Precondition failed", str(exc), kind="version-mismatch", version=exc.current) from exc
    state.settings_cache.invalidate()
    return _out(saved, response)
