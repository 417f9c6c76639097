"""Detached child processes with pid files: start once, find again after a restart of the CLI, stop cleanly.

psutil is imported where a process is looked at: it belongs to the local stack (the `local` extra), and the
service image's CLI (`provision`, commands against a deployment) imports this module without it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class ProcessError(RuntimeError):
    pass


@dataclass(frozen=True)
class Managed:
    name: str
    pid_file: Path
    marker: str
    """A string the process's command line contains, so a recycled pid is never mistaken for ours."""

    def pid(self) -> int | None:
        """The pid if our process is alive, else None (and a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        import psutil

        try:
            process = psutil.Process(pid)
            alive = process.is_running() and process.status() != psutil.STATUS_ZOMBIE
            if alive and self.marker in " ".join(process.cmdline()):
                return pid
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
        self.pid_file.unlink(missing_ok=True)
        return None

    def stop(self, *, timeout_s: float = 30.0) -> bool:
        """SIGTERM, wait, then SIGKILL. True if something was running."""
        pid = self.pid()
        if pid is None:
            return False
        import psutil

        try:
            process = psutil.Process(pid)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except psutil.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        except psutil.NoSuchProcess:
            pass
        self.pid_file.unlink(missing_ok=True)
        return True


def spawn(
    managed: Managed,
    command: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start `command` detached from this terminal (its own session), output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    managed.pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n--- started {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
        out.flush()
        process = subprocess.Popen(
            list(command),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    managed.pid_file.write_text(str(process.pid))
    return process.pid


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log yet)"
