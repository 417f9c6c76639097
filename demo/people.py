"""The people who use the demo from a browser: a demo agent who takes real offers beside the simulated ones, a
supervisor who watches the wallboard, and an admin. Their passwords are made once per state directory (kept
beside the token secret, readable by its owner only) and printed with the addresses to sign in at."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from deploy.stack import Stack
from shared.auth import Role


@dataclass(frozen=True)
class Person:
    user: str
    role: Role
    subject: str
    display_name: str
    agent: dict[str, Any] | None
    """The routing agent record behind the sign-in (None for an admin, who takes no work)."""


PEOPLE = (
    Person(
        "agent",
        "agent",
        "DEMO-AGENT",
        "Demo agent (you)",
        {
            "display_name": "Demo agent (you)",
            "tier": "senior",
            "team": "care",
            "languages": ["zh-Hans", "zh-Hant", "en"],
            "skills": {"general": 4, "complaints": 4, "technical": 3, "data": 3},
        },
    ),
    Person(
        "supervisor",
        "supervisor",
        "DEMO-LEAD",
        "Demo supervisor (you)",
        {
            "display_name": "Demo supervisor (you)",
            "tier": "supervisor",
            "team": "care",
            "languages": ["zh-Hans", "zh-Hant", "en"],
            "skills": {"general": 5, "complaints": 5},
        },
    ),
    Person("admin", "admin", "demo-admin", "Demo admin", None),
)


def passwords(stack: Stack) -> dict[str, str]:
    """The demo sign-ins' passwords: made on the first demo of this state directory, the same ever after."""
    path = stack.settings.state / "web-demo-signins.json"
    if path.exists():
        known: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        if all(p.user in known for p in PEOPLE):
            return known
    made = {p.user: secrets.token_urlsafe(9) for p in PEOPLE}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(made), encoding="utf-8")
    return made


async def seed_people(stack: Stack, routing: httpx.AsyncClient) -> dict[str, str]:
    """Routing agents for the people who take work, and their sign-ins at the web gateway."""
    known = passwords(stack)
    for person in PEOPLE:
        if person.agent is not None:
            answer = await routing.put(f"/v1/agents/{person.subject}", json=person.agent)
            if answer.status_code >= 400:
                raise RuntimeError(f"agent {person.subject}: {answer.status_code} {answer.text[:200]}")
        await stack.add_user(
            user_id=person.user,
            display_name=person.display_name,
            role=person.role,
            subject=person.subject,
            password=known[person.user],
        )
    return known


def print_sign_ins(console: Console, stack: Stack, known: dict[str, str]) -> None:
    web = stack.settings.web_url
    console.print(f"[bold]Workspace[/] {web}/workspace    [bold]Wallboard[/] {web}/wallboard")
    table = Table(title="Sign in as (demo only; passwords are in web-demo-signins.json in the state directory)")
    for column in ("name", "password", "role", "opens"):
        table.add_column(column)
    for person in PEOPLE:
        page = "/workspace" if person.role == "agent" else "/wallboard"
        table.add_row(person.user, known[person.user], person.role, f"{web}{page}")
    console.print(table)
