"""The `switchboard` command: run the local stack, mint credentials, check and test the project."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import phonenumbers
from rich.console import Console
from rich.table import Table

from deploy.asyncapi import asyncapi_text
from deploy.broker import MissingTool
from deploy.config import MissingTarget, StackSettings, TargetSettings
from deploy.processes import ProcessError
from deploy.stack import Stack, add_user, create_api_key, list_users, operator, revoke_everywhere
from shared.auth import ROLES, audit_access, issue_token, revoke_api_key
from shared.clock import utcnow
from shared.config import ServiceSettings
from shared.db import connect
from shared.events import CHANNELS, SERVICES, json_schemas_text
from shared.kafka import client_options

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)
ROOT = Path(__file__).resolve().parent.parent


def _stack() -> Stack:
    return Stack(StackSettings(), say=lambda msg: console.print(f"  [green]✓[/] {msg}"))


# --- up / down / status ---------------------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    stack = _stack()
    console.print(f"[bold]Starting the Switchboard stack[/] (state in {stack.settings.state})")
    times = asyncio.run(stack.up(services=not args.no_services, traces=args.traces))
    table = Table(title=f"up took {times.total:.1f}s")
    for column in ("step", "seconds", "note"):
        table.add_column(column)
    for step, seconds, note in times.steps:
        table.add_row(step, f"{seconds:.1f}", note)
    console.print(table)
    return 0


def cmd_down(_args: argparse.Namespace) -> int:
    stack = _stack()
    stopped = stack.down()
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def cmd_status(_args: argparse.Namespace) -> int:
    target = TargetSettings()
    if not target.remote:
        return _local_status()
    from deploy.target import health

    rows = asyncio.run(health(target))
    table = Table(title="Switchboard deployment")
    for column in ("component", "where", "health"):
        table.add_column(column)
    for row in rows:
        colour = "green" if row.health == "ok" else "red"
        table.add_row(row.component, row.where, f"[{colour}]{row.health}[/]")
    console.print(table)
    return 0 if rows and all(r.health == "ok" for r in rows) else 1


def _local_status() -> int:
    stack = Stack(StackSettings())
    rows = asyncio.run(stack.status())
    table = Table(title=f"Switchboard stack — {stack.settings.state}")
    for column in ("component", "port", "pid", "health"):
        table.add_column(column)
    for row in rows:
        colour = "green" if row.health == "ok" else ("dim" if row.health == "stopped" else "red")
        table.add_row(row.component, str(row.port or ""), str(row.pid or "—"), f"[{colour}]{row.health}[/]")
    console.print(table)
    return 0 if all(r.health == "ok" for r in rows) else 1


def cmd_trace(args: argparse.Namespace) -> int:
    from rich.tree import Tree

    from deploy.target import zipkin_url
    from deploy.traces import SpanNode, fetch_contact_spans, journey

    target = _target()
    if not target.remote and Stack(StackSettings()).zipkin.process.pid() is None:
        err.print(
            "the trace viewer is not running: start the stack with `switchboard up --traces`, or name a "
            "deployment's with SWITCHBOARD_ZIPKIN_URL"
        )
        return 1
    viewer = zipkin_url(target)
    try:
        spans = asyncio.run(fetch_contact_spans(viewer, args.contact_id))
    except httpx.HTTPError as exc:
        err.print(
            f"the trace viewer at {viewer} did not answer ({type(exc).__name__}): is SWITCHBOARD_ZIPKIN_URL right?"
        )
        return 1
    if not spans:
        err.print(
            f"no spans carry contact.id={args.contact_id} (yet: exporters send in batches every few seconds)"
        )
        return 1
    roots = journey(spans)
    origin = roots[0].start_us

    def label(node: SpanNode) -> str:
        span = node.span
        service = span.get("localEndpoint", {}).get("serviceName", "?")
        offset = (node.start_us - origin) / 1000
        took = int(span.get("duration", 0)) / 1000
        return f"[cyan]{service}[/] {span.get('name', '?')}  [dim]+{offset:,.1f} ms[/]  {took:,.1f} ms"

    def grow(tree: Tree, node: SpanNode) -> None:
        branch = tree.add(label(node))
        for child in node.children:
            grow(branch, child)

    tree = Tree(f"contact {args.contact_id}: {len(spans)} spans in {len({s['traceId'] for s in spans})} trace(s)")
    for root in roots:
        grow(tree, root)
    console.print(tree)
    console.print(f"[dim]{viewer}/zipkin/?annotationQuery=contact.id%3D{args.contact_id}[/]")
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    from deploy.dlq import read_letters, replay

    kafka = client_options(_target())
    if args.dlq_command == "replay":
        letters = asyncio.run(replay(kafka, args.service))
        console.print(f"replayed {len(letters)} dead letter(s) of {args.service} to their origin topics")
        return 0
    letters = asyncio.run(read_letters(kafka, args.service))
    table = Table(title=f"{args.service}.dlq — {len(letters)} dead letter(s)")
    for column in ("offset", "origin", "event type", "subject", "attempts", "error"):
        table.add_column(column, overflow="fold")
    for letter in letters[-args.last :]:
        table.add_row(
            str(letter.offset), letter.origin, letter.event_type, letter.subject, letter.attempts, letter.error
        )
    console.print(table)
    return 0


# --- credentials ------------------------------------------------------------------------------------------


def _target() -> TargetSettings:
    """The deployment the settings name, or the local stack (see `deploy/target.py`)."""
    from deploy.target import resolve

    return resolve(TargetSettings(), StackSettings())


def cmd_keys_create(args: argparse.Namespace) -> int:
    channels = sorted({c.strip() for c in args.channels.split(",") if c.strip()})
    unknown = [c for c in channels if c not in CHANNELS]
    if not channels or unknown:
        err.print(f"--channels takes a comma-separated list of {', '.join(CHANNELS)} (got {args.channels!r})")
        return 2
    region = args.region.strip().upper() if args.region else None
    if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
        err.print(f"--region takes a country code such as CN, HK, TW, US or GB (got {args.region!r})")
        return 2
    key = asyncio.run(create_api_key(_target().service_database, args.name, channels, region=region))
    where = f"region {region}" if region else "the intake's default region"
    err.print(f"API key {key.key_id} for {args.name!r}, channels {', '.join(channels)}, {where} (shown once):")
    print(key.key)
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    target = _target()

    async def revoke() -> int:
        total = 0
        for dsn in [target.service_database(name) for name in SERVICES]:
            conn = await connect(dsn)
            try:
                async with conn.transaction():
                    revoked = await revoke_api_key(conn, key_id_or_name=args.key, now=utcnow())
                    if revoked:
                        await audit_access(
                            conn, actor=operator(), action="api_key.revoke", target=f"api_key:{args.key}",
                            detail={"keys": revoked}, now=utcnow(),
                        )  # fmt: skip
                total += revoked
            finally:
                await conn.close()
        return total

    revoked = asyncio.run(revoke())
    console.print(f"revoked {revoked // len(SERVICES) if revoked else 0} key(s)")
    return 0 if revoked else 1


def cmd_token(args: argparse.Namespace) -> int:
    from deploy.target import token_secret

    ttl = _parse_ttl(args.ttl)
    target = _target()
    print(issue_token(token_secret(target), role=args.role, subject=args.sub, ttl=ttl, now=utcnow()))
    return 0


def cmd_users_add(args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        import getpass

        password = getpass.getpass(f"password for {args.name}: ")
    if len(password) < 8:
        err.print("the password needs at least 8 characters")
        return 2
    subject = args.subject or args.name
    created = asyncio.run(
        add_user(
            _target().service_database,
            user_id=args.name,
            display_name=args.display_name or args.name,
            role=args.role,
            subject=subject,
            password=password,
        )
    )
    verb = "added" if created else "changed"
    err.print(f"{verb} {args.name} ({args.role}; the services know them as {subject})")
    return 0


def cmd_users_revoke(args: argparse.Namespace) -> int:
    """A person's tokens stop working in every service within a minute (open desktops too)."""
    asyncio.run(revoke_everywhere(_target().service_database, args.subject, reason=args.reason))
    err.print(f"revoked every token issued to {args.subject!r} until now (new sign-ins work again)")
    return 0


def cmd_users_list(_args: argparse.Namespace) -> int:
    users = asyncio.run(list_users(_target().service_database))
    table = Table(title=f"web sign-ins — {len(users)}")
    for column in ("name", "display name", "role", "agent / subject", "active"):
        table.add_column(column)
    for name, display, role, subject, active in users:
        table.add_row(name, display, role, subject, "yes" if active else "no")
    console.print(table)
    return 0


def _parse_ttl(text: str) -> timedelta:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in units and text[:-1].isdigit():
        return timedelta(seconds=int(text[:-1]) * units[text[-1]])
    if text.isdigit():
        return timedelta(seconds=int(text))
    raise argparse.ArgumentTypeError(f"--ttl takes e.g. 30m, 8h or 7d (got {text!r})")


# --- smoke, demo ------------------------------------------------------------------------------------------


def cmd_smoke(args: argparse.Namespace) -> int:
    from deploy.probe import round_trip

    stack = Stack(StackSettings())
    settings = ServiceSettings(
        service="ops",
        database_url=stack.settings.database_url("ops"),
        kafka_bootstrap=stack.settings.kafka_bootstrap,
    )
    console.print(
        f"[bold]Smoke round trip[/]: {args.events} probe events → outbox (PostgreSQL `ops`) → relay → "
        "Kafka `ops.probe` → consumer → inbox + effect row"
    )
    with console.status("delivering…") as status:
        report = asyncio.run(
            round_trip(
                settings,
                events=args.events,
                progress=lambda done, total: status.update(f"delivered {done}/{total}"),
            )
        )
    table = Table(title="What happened")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("events written through the outbox", str(report.events))
    table.add_row("distinct events handled (inbox + effect)", str(report.delivered))
    table.add_row("duplicate effects", str(report.duplicates))
    table.add_row("time to enqueue (s)", f"{report.enqueue_s:.2f}")
    table.add_row("time until all handled (s)", f"{report.drain_s:.2f}")
    table.add_row("rate (events/s)", f"{report.rate_per_s:,.0f}")
    table.add_row(
        "latency p50 / p99 / max (ms)",
        f"{report.latency_p50_ms:.1f} / {report.latency_p99_ms:.1f} / {report.latency_max_ms:.1f}",
    )
    console.print(table)
    ok = report.delivered == report.events and report.duplicates == 0
    console.print("[green]smoke OK[/]" if ok else "[red]smoke FAILED: not every event arrived exactly once[/]")
    return 0 if ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job: the stack (started if it is not up), seeded, then a simulated contact centre through it; the
    addresses and sign-ins of the workspace and the wallboard are printed before the run and after it."""
    from demo.run import DemoOptions, run

    code = cmd_up(argparse.Namespace(no_services=False, traces=args.traces))
    if code:
        return code
    options = DemoOptions(minutes=args.minutes, rate_per_min=args.rate, agents=args.agents, seed=args.seed)
    from demo.people import print_sign_ins

    stack = _stack()
    result = asyncio.run(run(stack, options, console))
    console.print(result.report.read_text(encoding="utf-8").split("## Charts")[0])
    console.print(f"[bold]report:[/] {result.report}  (charts beside it)")
    console.print("The stack keeps running (`switchboard down` stops it): take offers and watch it in a browser.")
    print_sign_ins(console, stack, result.sign_ins)
    return 0


# --- provision --------------------------------------------------------------------------------------------


def cmd_provision(args: argparse.Namespace) -> int:
    """Databases and topics on servers someone else runs (docker compose, a cluster); with `--check`, only a
    report of how the topics differ from what events.py and the settings want (exit 1 on any difference)."""
    from deploy.postgres import ensure_databases
    from deploy.stack import DATABASES
    from deploy.topics import drift, found_shapes, wanted_shapes
    from shared.events import TOPICS
    from shared.kafka import ensure_topics, wait_for_broker

    # The services' own settings: SWITCHBOARD_ENVIRONMENT, _TOPIC_*, _MAX_EVENT_BYTES and the broker's TLS/SASL.
    settings = ServiceSettings(**({"kafka_bootstrap": args.kafka} if args.kafka else {}))
    kafka = client_options(settings)
    if args.check:
        wanted = wanted_shapes(
            TOPICS,
            max_message_bytes=settings.max_event_bytes,
            replication_factor=settings.replication_factor,
            min_insync_replicas=settings.min_insync_replicas,
        )

        async def check() -> dict[str, Any]:
            await wait_for_broker(kafka, timeout_s=args.wait)
            return await found_shapes(kafka, list(wanted))

        differences = drift(wanted, asyncio.run(check()))
        table = Table(
            title=f"topic drift on {settings.kafka_bootstrap} ({settings.environment}) — {len(differences)}"
        )
        for column in ("topic", "what", "wanted", "found"):
            table.add_column(column)
        for d in differences:
            table.add_row(d.topic, d.what, d.wanted, f"[red]{d.found}[/]")
        console.print(table if differences else f"topics on {settings.kafka_bootstrap}: as declared, no drift")
        return 1 if differences else 0
    if not args.postgres:
        err.print("provision needs --postgres (an admin URL), unless it only --check's the topics")
        return 2

    async def provision() -> tuple[list[str], list[str]]:
        await wait_for_broker(kafka, timeout_s=args.wait)
        topics = await ensure_topics(
            kafka,
            TOPICS,
            max_message_bytes=settings.max_event_bytes,
            replication_factor=settings.replication_factor,
            min_insync_replicas=settings.min_insync_replicas,
        )
        databases = await ensure_databases(args.postgres, list(DATABASES))
        return topics, databases

    topics, databases = asyncio.run(provision())
    console.print(f"topics created: {', '.join(topics) or 'none (all present)'}")
    console.print(f"databases created: {', '.join(databases) or 'none (all present)'}")
    return 0


# --- events -----------------------------------------------------------------------------------------------


def cmd_events_schema(args: argparse.Namespace) -> int:
    text = asyncapi_text(_version()) if args.events_command == "asyncapi" else json_schemas_text()
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
        console.print(f"wrote {args.write}")
    else:
        print(text, end="")
    return 0


# --- kubernetes, generated docs ---------------------------------------------------------------------------


def cmd_k8s_generate(_args: argparse.Namespace) -> int:
    from deploy.kube import K8S, generate

    changed = generate()
    for path in changed:
        console.print(f"wrote {path.relative_to(ROOT)}")
    console.print(f"{K8S.relative_to(ROOT)}: {len(changed)} file(s) changed")
    return 0


def cmd_k8s_render(args: argparse.Namespace) -> int:
    from deploy.kustomize import KustomizeError, render, to_yaml

    try:
        print(to_yaml(render(Path(args.directory))), end="")
    except KustomizeError as exc:
        err.print(f"[red]switchboard:[/] {exc}")
        return 2
    return 0


def cmd_docs_settings(args: argparse.Namespace) -> int:
    from deploy.reference import OPERATIONS, reference, undocumented, write

    missing = undocumented()
    if missing:
        for line in missing:
            err.print(line)
        return 1
    if not args.write:
        print(reference(), end="")
        return 0
    changed = write()
    console.print(f"{OPERATIONS.relative_to(ROOT)}: {'updated' if changed else 'already current'}")
    return 0


# --- lock -------------------------------------------------------------------------------------------------


def cmd_lock(args: argparse.Namespace) -> int:
    from deploy.lock import LOCK, write_lock

    code = write_lock(upgrade=args.upgrade)
    if code == 0:
        console.print(f"wrote {LOCK.relative_to(ROOT)}")
    return code


def _version() -> str:
    from importlib.metadata import version

    return version("switchboard")


# --- test -------------------------------------------------------------------------------------------------


CHECKS: list[tuple[str, list[str]]] = [
    ("ruff check", ["ruff", "check", "."]),
    ("ruff format --check", ["ruff", "format", "--check", "."]),
    ("mypy --strict", ["mypy"]),
    ("import-linter contracts", ["lint-imports"]),
]


def cmd_test(args: argparse.Namespace) -> int:
    """Static checks, then the whole test suite against a real broker and database the tests start, then (for
    the whole suite) `tests/break-mechanisms`: each delivery mechanism removed in turn must fail its test."""
    bindir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "SWITCHBOARD_PYTHON": sys.executable,
    }
    started = time.monotonic()
    results: list[tuple[str, bool, float]] = []
    steps = [] if args.skip_checks else list(CHECKS)
    # Every marker: plain `pytest` leaves out the stack tests (pyproject's addopts); a later `-m` still narrows.
    steps.append(("pytest", ["pytest", "-m", "", *args.pytest_args]))
    if not args.pytest_args:
        steps.append(("break-mechanisms", ["bash", "tests/break-mechanisms"]))
    for name, command in steps:
        console.rule(f"[bold]{name}")
        t = time.monotonic()
        code = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
        results.append((name, code == 0, time.monotonic() - t))
        if code != 0 and not args.keep_going:
            break
    table = Table(title=f"switchboard test — {time.monotonic() - started:.0f}s")
    for column in ("step", "result", "seconds"):
        table.add_column(column)
    for name, ok, seconds in results:
        table.add_row(name, "[green]pass[/]" if ok else "[red]FAIL[/]", f"{seconds:.1f}")
    console.print(table)
    return 0 if all(ok for _, ok, _ in results) and len(results) == len(steps) else 1


# --- wiring -----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard",
        description="Switchboard: omnichannel contact handling. Settings come from SWITCHBOARD_* variables "
        "(state dir, ports: SWITCHBOARD_STATE_DIR, SWITCHBOARD_KAFKA_PORT, SWITCHBOARD_POSTGRES_PORT, "
        "SWITCHBOARD_INTAKE_PORT, …).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser(
        "up", help="start Kafka, PostgreSQL, topics, the five services and the web gateway (idempotent)"
    )
    up.add_argument("--no-services", action="store_true", help="only the broker, the database and the topics")
    up.add_argument("--traces", action="store_true", help="also start the Zipkin trace viewer and export to it")
    up.set_defaults(func=cmd_up)
    trace = sub.add_parser("trace", help="a contact's journey as a tree with timings, from the trace viewer")
    trace.add_argument("contact_id")
    trace.set_defaults(func=cmd_trace)
    dlq = sub.add_parser("dlq", help="dead letters of a service").add_subparsers(dest="dlq_command", required=True)
    for verb, text in (("list", "a table of what the service could not handle"), ("replay", "send them back")):
        command = dlq.add_parser(verb, help=text)
        command.add_argument("service", choices=[*SERVICES, "ops"])
        if verb == "list":
            command.add_argument("--last", type=int, default=50, help="show the newest N")
        command.set_defaults(func=cmd_dlq)
    sub.add_parser("down", help="stop everything cleanly (data is kept)").set_defaults(func=cmd_down)
    sub.add_parser("status", help="a table of components, ports, pids and health").set_defaults(func=cmd_status)

    keys = sub.add_parser("keys", help="adapter API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="print a new adapter API key")
    create.add_argument("--name", required=True, help="who uses it, e.g. mail-gateway")
    create.add_argument("--channels", required=True, help=f"comma-separated: {','.join(CHANNELS)}")
    create.add_argument(
        "--region",
        help="country whose local numbers the adapter sends, e.g. HK (default: the intake's default_region, CN)",
    )
    create.set_defaults(func=cmd_keys_create)
    revoke = keys.add_parser("revoke", help="revoke a key by id or name")
    revoke.add_argument("key")
    revoke.set_defaults(func=cmd_keys_revoke)

    token = sub.add_parser("token", help="print a signed bearer token")
    token.add_argument("--role", required=True, choices=[r for r in ROLES if r != "adapter"])
    token.add_argument("--sub", required=True, help="subject: the agent or user id")
    token.add_argument("--ttl", default="8h", help="lifetime, e.g. 30m, 8h, 7d (default 8h)")
    token.set_defaults(func=cmd_token)

    users = sub.add_parser("users", help="people who sign in at the web gateway with a password").add_subparsers(
        dest="users_command", required=True
    )
    add_user = users.add_parser("add", help="add a user, or change one's role, agent id or password")
    add_user.add_argument("name", help="the sign-in name (lower case)")
    add_user.add_argument("--role", required=True, choices=[r for r in ROLES if r != "adapter"])
    add_user.add_argument("--subject", help="the agent id routing knows (default: the name)")
    add_user.add_argument("--display-name", help="shown in the page header")
    add_user.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add_user.set_defaults(func=cmd_users_add)
    users.add_parser("list", help="a table of the web sign-ins").set_defaults(func=cmd_users_list)
    revoke_user = users.add_parser(
        "revoke", help="every token issued to this subject (agent id or user) stops working within a minute"
    )
    revoke_user.add_argument("subject")
    revoke_user.add_argument("--reason", default=None)
    revoke_user.set_defaults(func=cmd_users_revoke)

    smoke = sub.add_parser("smoke", help="round trip through outbox → Kafka → consumer → inbox, with figures")
    smoke.add_argument("--events", type=int, default=200)
    smoke.set_defaults(func=cmd_smoke)

    demo = sub.add_parser("demo", help="the main job: a simulated contact centre through the whole stack")
    demo.add_argument("--minutes", type=float, default=2.0, help="how long contacts arrive (default 2)")
    demo.add_argument("--rate", type=float, default=40.0, help="contacts per minute (default 40)")
    demo.add_argument("--agents", type=int, default=12, help="simulated agents (default 12)")
    demo.add_argument("--seed", type=int, default=7, help="makes the run repeatable apart from timing")
    demo.add_argument("--traces", action="store_true", help="also run the trace viewer")
    demo.set_defaults(func=cmd_demo)

    provision = sub.add_parser("provision", help="create the databases and every topic on existing servers")
    provision.add_argument(
        "--kafka", help="bootstrap servers, e.g. kafka:9092 (default: SWITCHBOARD_KAFKA_BOOTSTRAP)"
    )
    provision.add_argument("--postgres", help="admin URL, e.g. postgresql://switchboard@db/postgres")
    provision.add_argument(
        "--check",
        action="store_true",
        help="only report topic drift (partitions, replicas, configs); exit 1 if any",
    )
    provision.add_argument("--wait", type=float, default=120, help="seconds to wait for the broker")
    provision.set_defaults(func=cmd_provision)

    events = sub.add_parser("events", help="the event contract").add_subparsers(
        dest="events_command", required=True
    )
    schema = events.add_parser("schema", help="JSON Schema of every event type")
    schema.add_argument("--write", metavar="PATH", help="write to a file instead of stdout")
    schema.set_defaults(func=cmd_events_schema)
    asyncapi = events.add_parser("asyncapi", help="AsyncAPI 3 document of every topic, event and desktop message")
    asyncapi.add_argument("--write", metavar="PATH", help="write to a file instead of stdout")
    asyncapi.set_defaults(func=cmd_events_schema)

    k8s = sub.add_parser("k8s", help="the Kubernetes manifests in deploy/k8s/").add_subparsers(
        dest="k8s_command", required=True
    )
    k8s.add_parser(
        "generate", help="write the generated manifests (topics from events.py, workloads, database, job)"
    ).set_defaults(func=cmd_k8s_generate)
    k8s_render = k8s.add_parser("render", help="print a kustomization as `kubectl apply -k` would apply it")
    k8s_render.add_argument("directory", help="e.g. deploy/k8s/overlays/example")
    k8s_render.set_defaults(func=cmd_k8s_render)

    docs = sub.add_parser("docs", help="generated documentation").add_subparsers(
        dest="docs_command", required=True
    )
    settings_doc = docs.add_parser("settings", help="the configuration reference, from the settings classes")
    settings_doc.add_argument("--write", action="store_true", help="update docs/operations.md in place")
    settings_doc.set_defaults(func=cmd_docs_settings)

    lock = sub.add_parser(
        "lock", help="write deploy/requirements.lock: the image's exact dependencies (with hashes), from pyproject"
    )
    lock.add_argument("--upgrade", action="store_true", help="the newest versions allowed, not the locked ones")
    lock.set_defaults(func=cmd_lock)

    test = sub.add_parser("test", help="ruff, mypy, import contracts, then pytest on a real broker and database")
    test.add_argument("--skip-checks", action="store_true", help="only pytest")
    test.add_argument("--keep-going", action="store_true", help="run every step even after a failure")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed to pytest (after --)")
    test.set_defaults(func=cmd_test)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # aiokafka logs every refused connection while the broker boots; `up` reports readiness itself.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    if getattr(args, "pytest_args", None) and args.pytest_args[0] == "--":
        args.pytest_args = args.pytest_args[1:]
    try:
        code: int = args.func(args)
        return code
    except MissingTool as exc:
        err.print(f"[red]switchboard:[/] {exc}")
        return 3
    except (ProcessError, MissingTarget) as exc:
        err.print(f"[red]switchboard:[/] {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
