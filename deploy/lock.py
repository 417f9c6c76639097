"""deploy/requirements.lock: the exact versions, with hashes, that a service image installs.

Resolved by uv from pyproject.toml's `dependencies` alone (no extras: nothing of the local stack, the demo or
the tests) for Python 3.11 on every platform, so an image built today and one built next year hold the same code.
`switchboard lock` writes it again after pyproject.toml changed; a unit test says when that is due.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "deploy" / "requirements.lock"
PYTHON = "3.11"
"""The image's Python (deploy/Dockerfile); the lock also carries what other versions would need (`--universal`)."""

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, set[str]]:
    """Package (canonical name) → the versions pinned for it (one per Python-version or platform marker)."""
    pinned: dict[str, set[str]] = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            pinned.setdefault(canonical(match.group(1)), set()).add(match.group(2))
    return pinned


def write_lock(output: Path = LOCK, *, upgrade: bool = False) -> int:
    """Resolve and write the lock with uv (a `dev` extra); needs the package index."""
    from uv import find_uv_bin

    command = [
        find_uv_bin(),
        "pip",
        "compile",
        "pyproject.toml",
        "--universal",
        "--python-version",
        PYTHON,
        "--generate-hashes",
        "--custom-compile-command",
        "switchboard lock",
        "--quiet",
        "--output-file",
        str(output),
    ]
    if upgrade:
        command.append("--upgrade")
    return subprocess.run(command, cwd=ROOT, check=False).returncode
