"""What the knowledge benchmarks share: a knowledge service process on a fresh database, tokens, the data sets.

The service runs as its own process (`python -m services.knowledge serve`) against the local stack
(`./switchboard up --no-services`), so figures include HTTP, JSON and the real database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import asyncpg
import httpx

from deploy.config import StackSettings
from shared.auth import Role, issue_token
from shared.clock import utcnow

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "knowledge"


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@dataclass(frozen=True)
class Service:
    base_url: str
    secret: str
    database_url: str

    def headers(self, role: Role = "supervisor") -> dict[str, str]:
        token = issue_token(self.secret, role=role, subject=f"bench-{role}", ttl=timedelta(hours=2), now=utcnow())
        return {"Authorization": f"Bearer {token}"}


async def fresh_database(stack: StackSettings, name: str, *, keep: bool = False) -> str:
    """An empty database `name` (dropped first), or with `keep` the existing one when there is one."""
    conn = await asyncpg.connect(stack.database_url("postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not (keep and exists):
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return stack.database_url(name)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def knowledge_service(
    database: str, *, log_path: Path, keep: bool = False, env: dict[str, str] | None = None
) -> Iterator[Service]:
    """Start the service on a free port with a fresh token secret; stop it (SIGTERM, then wait) afterwards.

    The database is made anew unless `keep` (then an existing one is reused as it is); `env` adds settings.
    """
    stack = StackSettings()
    database_url = asyncio.run(fresh_database(stack, database, keep=keep))
    port = free_port()
    secret = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "SWITCHBOARD_DATABASE_URL": database_url,
        "SWITCHBOARD_PORT": str(port),
        "SWITCHBOARD_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "SWITCHBOARD_TOKEN_SECRET": secret,
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "SWITCHBOARD_DB_POOL_MAX": "20",
        "SWITCHBOARD_MAX_REQUEST_BYTES": str(200 * 1024 * 1024),
        **(env or {}),
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.knowledge", "serve"], env=env, cwd=ROOT, stdout=log, stderr=log
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the knowledge service exited; see {log_path}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base_url}/health/ready", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the knowledge service did not become ready; see {log_path}")
                time.sleep(0.3)
            yield Service(base_url=base_url, secret=secret, database_url=database_url)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def article_lines(articles: list[dict[str, Any]], *, publish: bool = True) -> list[str]:
    """The data sets' {id, title, body, lang} as import JSON lines."""
    return [
        json.dumps(
            {
                "external_id": a["id"],
                "title": a["title"] or "-",  # two CMRC paragraphs have no title; articles need one
                "body": a["body"],
                "language": a["lang"],
                "status": "published" if publish else "draft",
                "visibility": "internal",
            },
            ensure_ascii=False,
        )
        for a in articles
    ]


class LeanClient:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads whole responses, and nothing else.

    The load generator shares the two cores with the server it measures: httpx costs several times what this
    does per request, which would show up as server latency.
    """

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": self.host, **headers}.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get(self, target: str) -> tuple[int, bytes]:
        """One GET; a kept-alive connection the server closed while idle is opened again (once), as a browser
        would."""
        reused = self._reader is not None
        try:
            return await self._get(target)
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            if not reused:
                raise
            return await self._get(target)

    async def _get(self, target: str) -> tuple[int, bytes]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._writer.write(f"GET {target} HTTP/1.1\r\n{self._head}\r\n".encode())
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"transfer-encoding":
                raise RuntimeError("chunked responses are not expected here")
        body = await self._reader.readexactly(length) if length else b""
        return status, body

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


def search_target(query: str, **params: str | int) -> str:
    return "/v1/search?" + urlencode({"q": query, **params})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
