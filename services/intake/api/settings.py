"""`/v1/intake/settings`: the threading windows of RULES.md (reopen, same e-mail subject, open contact per
channel) as data: read by supervisors and admins, replaced by admins (validated, versioned, audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from services.intake.api.common import IntakeState, transaction
from services.intake.domain.settings import MAX_WINDOW_S, InvalidSettings, ThreadSettings
from services.intake.handlers.settings import VersionMismatch, replace_thread_settings
from shared.auth import Principal, require_roles
from shared.errors import Problem
from shared.events import Channel
from shared.openapi import example

router = APIRouter(prefix="/v1/intake", tags=["settings"])
Window = Annotated[int, Field(ge=1, le=MAX_WINDOW_S)]


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid") | example(
        reopen_window_s=604800,
        email_subject_window_s=259200,
        customer_windows_s={"chat": 1800, "sms": 86400, "phone": 0},
    )

    reopen_window_s: Window
    """A follow-up this soon after the contact was resolved or closed reopens it; later ones open a new contact."""
    email_subject_window_s: Window
    """An e-mail with the same subject from the same customer within this window continues their open contact."""
    customer_windows_s: dict[Channel, Annotated[int, Field(ge=0, le=MAX_WINDOW_S)]]
    """Per channel: a message from a customer with an open contact on it within this window joins it (0 or left
    out: never)."""


class SettingsOut(SettingsIn):
    model_config = example(
        reopen_window_s=604800,
        email_subject_window_s=259200,
        customer_windows_s={"chat": 1800, "sms": 86400},
        version=4,
    )

    version: int


def _out(settings: ThreadSettings, response: Response) -> SettingsOut:
    response.headers["ETag"] = f'"{settings.version}"'
    return SettingsOut.model_validate({**settings.document(), "version": settings.version})


@router.get("/settings", response_model=SettingsOut, summary="The threading windows in force")
async def get_settings(
    intake: IntakeState,
    response: Response,
    _who: Annotated[Principal, Depends(require_roles("admin", "supervisor", "ops"))],
) -> SettingsOut:
    async with intake.pool.acquire() as conn:
        return _out(await intake.accepting.threads.settings(conn), response)


@router.put("/settings", response_model=SettingsOut, summary="Replace the threading windows (audited)")
async def put_settings(
    body: SettingsIn,
    intake: IntakeState,
    response: Response,
    who: Annotated[Principal, Depends(require_roles("admin"))],
    if_match: Annotated[str | None, Header()] = None,
) -> SettingsOut:
    """A new version, in force in every intake process within seconds; contacts already threaded stay as they
    are. `If-Match: "<version>"` refuses the change (412) if someone else changed them first."""
    expected: int | None = None
    if if_match is not None:
        try:
            expected = int(if_match.strip('"W/ '))
        except ValueError as exc:
            raise Problem(422, "Validation failed", "If-Match: a version number", kind="validation") from exc
    try:
        async with transaction(intake) as tx:
            saved = await replace_thread_settings(
                tx, body.model_dump(mode="json"), actor=who.subject, expected_version=expected
            )
    except InvalidSettings as exc:
        raise Problem(422, "Validation failed", str(exc), kind="validation") from exc
    except VersionMismatch as exc:
        raise Problem(412, "Precondition failed", str(exc), kind="version-mismatch", version=exc.current) from exc
    intake.accepting.threads.invalidate()
    return _out(saved, response)
