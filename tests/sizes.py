"""Module and function sizes of the code we ship, against the limits and the allow-list that says why.

`python -m tests.sizes` prints the module-size distribution and the largest functions.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("services", "shared", "deploy", "demo")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
ALLOWLIST = ROOT / "tests" / "size_allowlist.toml"


@dataclass(frozen=True)
class Function:
    name: str
    """`path:qualified.name`, the allow-list's key."""
    lines: int


@dataclass(frozen=True)
class Allowed:
    modules: dict[str, str]
    functions: dict[str, str]


def modules(root: Path = ROOT) -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((root / package).rglob("*.py"))


def module_lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def functions(path: Path, root: Path = ROOT) -> Iterator[Function]:
    """Every function and method, nested ones too, from its `def` line to its last line."""
    where = path.relative_to(root).as_posix()

    def walk(node: ast.AST, prefix: str) -> Iterator[Function]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qualified = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    assert child.end_lineno is not None
                    yield Function(f"{where}:{qualified}", child.end_lineno - child.lineno + 1)
                yield from walk(child, qualified + ".")
            else:
                yield from walk(child, prefix)

    yield from walk(ast.parse(path.read_text(encoding="utf-8")), "")


def load_allowlist(path: Path = ALLOWLIST) -> Allowed:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return Allowed(modules=dict(data.get("modules", {})), functions=dict(data.get("functions", {})))


def report(root: Path = ROOT, top: int = 10) -> str:
    sizes = sorted(module_lines(p) for p in modules(root))
    bins = [(0, 100), (101, 200), (201, 300), (301, 400), (401, 600), (601, 10**9)]
    out = [f"{len(sizes)} modules in {', '.join(PACKAGES)}; median {sizes[len(sizes) // 2]} lines"]
    for low, high in bins:
        label = f"{low}-{high}" if high < 10**9 else f"over {low - 1}"
        out.append(f"  {label:>10} lines: {sum(low <= s <= high for s in sizes)}")
    largest = sorted((f for p in modules(root) for f in functions(p, root)), key=lambda f: -f.lines)[:top]
    out.append(f"{top} largest functions:")
    out += [f"  {f.lines:4d}  {f.name}" for f in largest]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(report())
