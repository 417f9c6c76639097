"""PgBouncer, for the test of a pool behind it in transaction mode: found on PATH, or taken from Debian's
`pgbouncer` package with the two libraries it links that a machine may lack (downloaded with apt, unpacked
without installing anything) into `<state dir>/tools/pgbouncer/`, like promtool. Never in git."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from deploy.broker import MissingTool
from deploy.promtool import download_deb

PACKAGES = ("pgbouncer", "libc-ares2", "libevent-2.1-7")


@dataclass(frozen=True)
class PgBouncerBinary:
    path: Path
    env: dict[str, str] = field(default_factory=dict)
    """What it needs to run: the unpacked libraries' directory on LD_LIBRARY_PATH."""

    def works(self) -> bool:
        try:
            done = subprocess.run(
                [str(self.path), "--version"], env=self.env or None, capture_output=True, timeout=30, check=False
            )
        except OSError:
            return False
        return done.returncode == 0


def ensure_pgbouncer(state: Path) -> PgBouncerBinary:
    """A working pgbouncer: `<state>/tools/pgbouncer/` (fetched on first use), else the one on PATH."""
    home = state / "tools" / "pgbouncer"
    cached = PgBouncerBinary(home / "pgbouncer", {"LD_LIBRARY_PATH": str(home / "lib")})
    if cached.works():
        return cached
    on_path = shutil.which("pgbouncer")
    if on_path and PgBouncerBinary(Path(on_path)).works():
        return PgBouncerBinary(Path(on_path))
    if shutil.which("apt-get") and shutil.which("dpkg-deb"):
        with tempfile.TemporaryDirectory() as tmp:
            unpacked = Path(tmp) / "unpacked"
            for package in PACKAGES:
                deb = download_deb(package, Path(tmp))
                if deb is not None:
                    subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True, capture_output=True)
            binary = unpacked / "usr" / "sbin" / "pgbouncer"
            if binary.exists():
                (home / "lib").mkdir(parents=True, exist_ok=True)
                shutil.copy2(binary, cached.path)
                for library in (unpacked / "usr" / "lib").glob("*/*.so*"):
                    shutil.copy2(library, home / "lib" / library.name, follow_symlinks=True)
                if cached.works():
                    return cached
    raise MissingTool(
        "pgbouncer is needed for the test of the pool behind it: install it on PATH "
        "(Debian/Ubuntu: `apt-get install pgbouncer`)"
    )
