"""Classification rules: read and replace them (admin), and a dry run that says which rules fire and why."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from services.intake.api.bodies import RULES_BODY
from services.intake.api.common import IntakeState, json_object, transaction
from services.intake.api.models import Explanation, RuleSet
from services.intake.domain.classification import Facts, InvalidRules, explain, parse_ruleset
from services.intake.handlers.rules import replace_ruleset
from shared.auth import Principal, require_roles
from shared.errors import Problem
from shared.openapi import example

router = APIRouter(prefix="/v1/classification", tags=["classification"])


@router.get("/rules", summary="The rule set in force", response_model=None, responses={200: {"model": RuleSet}})
async def get_rules(
    intake: IntakeState, principal: Annotated[Principal, Depends(require_roles("admin", "supervisor"))]
) -> dict[str, Any]:
    async with intake.pool.acquire() as conn:
        ruleset = await intake.accepting.rules.get(conn)
    return {"version": ruleset.version, **ruleset.document}


@router.put(
    "/rules",
    summary="Replace the rule set (validated, versioned, audited)",
    response_model=None,
    responses={200: {"model": RuleSet}},
    openapi_extra=RULES_BODY,
)
async def put_rules(
    request: Request, intake: IntakeState, principal: Annotated[Principal, Depends(require_roles("admin"))]
) -> dict[str, Any]:
    document = json_object(await request.body())
    document.pop("version", None)
    try:
        async with transaction(intake) as tx:
            ruleset = await replace_ruleset(tx, document, actor=principal.subject)
    except InvalidRules as exc:
        raise Problem(422, "Invalid rules", str(exc), kind="invalid-rules") from exc
    intake.accepting.rules.invalidate()
    return {"version": ruleset.version, **ruleset.document}


class ExplainIn(BaseModel):
    model_config = example(
        text="我要退款，已经等了两周", subject="退款", channel="email", customer={"grade": "key"}
    )

    text: str = Field(max_length=100_000)
    subject: str = Field(default="", max_length=998)
    channel: Literal["phone", "email", "chat", "web", "sms", "social", "onsite"] = "email"
    ivr_selections: list[str] = Field(default_factory=list, max_length=50)
    customer: dict[str, str] = Field(default_factory=dict)
    """Customer attributes to assume: grade, value_tier, risk_level, lifecycle_stage, pii_level."""
    rules: dict[str, Any] | None = None
    """A draft rule set to try instead of the one in force."""


@router.post(
    "/explain",
    summary="Dry run: what the rules decide for a text, and which rule fired why",
    response_model=None,
    responses={200: {"model": Explanation}},
)
async def explain_rules(
    body: ExplainIn,
    intake: IntakeState,
    principal: Annotated[Principal, Depends(require_roles("admin", "supervisor", "agent"))],
) -> dict[str, Any]:
    if body.rules is not None:
        try:
            ruleset = parse_ruleset(body.rules, version=0)
        except InvalidRules as exc:
            raise Problem(422, "Invalid rules", str(exc), kind="invalid-rules") from exc
    else:
        async with intake.pool.acquire() as conn:
            ruleset = await intake.accepting.rules.get(conn)
    facts = Facts(
        text=body.text,
        subject=body.subject,
        channel=body.channel,
        ivr_selections=tuple(body.ivr_selections),
        customer={"grade": "basic", **body.customer},
    )
    return explain(ruleset, facts)
