"""promtool, which checks and unit-tests the Prometheus rules: found on PATH, or taken from Debian's `prometheus`
package (downloaded with apt, unpacked without installing anything) into `<state dir>/tools/`, like Kafka's jars.
Never in git."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from deploy.broker import MissingTool

PACKAGE = "prometheus"


def _works(path: Path) -> bool:
    try:
        return (
            subprocess.run([str(path), "--version"], capture_output=True, timeout=30, check=False).returncode == 0
        )
    except OSError:
        return False


def download_deb(package: str, into: Path) -> Path | None:
    """A Debian package's .deb in `into`, fetching the package lists once when apt does not know it yet."""
    for attempt in range(2):
        done = subprocess.run(["apt-get", "download", package], cwd=into, capture_output=True, check=False)
        found = sorted(into.glob(f"{package}_*.deb"))
        if done.returncode == 0 and found:
            return found[-1]
        if attempt == 0 and os.geteuid() == 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=300, check=False)
    return None


def ensure_promtool(state: Path) -> Path:
    """A working promtool: `<state>/tools/promtool` (fetched on first use), else the one on PATH."""
    cached = state / "tools" / "promtool"
    if cached.exists() and _works(cached):
        return cached
    on_path = shutil.which("promtool")
    if on_path and _works(Path(on_path)):
        return Path(on_path)
    if shutil.which("apt-get") and shutil.which("dpkg-deb"):
        with tempfile.TemporaryDirectory() as tmp:
            deb = download_deb(PACKAGE, Path(tmp))
            if deb is not None:
                unpacked = Path(tmp) / "unpacked"
                subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True, capture_output=True)
                cached.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(unpacked / "usr" / "bin" / "promtool", cached)
                if _works(cached):
                    return cached
    raise MissingTool(
        "promtool is needed to check the alert rules: install Prometheus's promtool on PATH "
        "(Debian/Ubuntu: `apt-get install prometheus`; or a release of prometheus/prometheus)"
    )
