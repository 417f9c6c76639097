"""The workspace's desktop socket (`static/js/desk.js`) under Node's own test runner with a fake WebSocket:
resume with `?after=`, nothing shown twice, replies matched by `ref`, no reconnect when replaced."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

TESTS = Path(__file__).parent / "js"


def test_the_desktop_socket_resumes_without_losing_or_repeating_a_message() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("needs Node.js (node --test) for the web app's own tests")
    done = subprocess.run(
        [node, "--test", *sorted(str(p) for p in TESTS.glob("*.test.mjs"))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
