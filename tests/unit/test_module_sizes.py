"""No module over 400 lines and no function over 60 in the code we ship, unless the allow-list says why."""

from __future__ import annotations

from tests.sizes import (
    ALLOWLIST,
    MAX_FUNCTION_LINES,
    MAX_MODULE_LINES,
    ROOT,
    functions,
    load_allowlist,
    module_lines,
    modules,
)


def test_no_module_is_longer_than_the_limit_unless_allowed_and_no_allowance_is_stale() -> None:
    allowed = load_allowlist().modules
    sizes = {p.relative_to(ROOT).as_posix(): module_lines(p) for p in modules()}
    over = {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES}
    offenders = [f"{name} ({lines} lines)" for name, lines in sorted(over.items()) if name not in allowed]
    stale = sorted(set(allowed) - set(over))
    assert not offenders, (
        f"modules over {MAX_MODULE_LINES} lines: split them, or say why in {ALLOWLIST.name}: {offenders}"
    )
    assert not stale, f"{ALLOWLIST.name} allows modules that are gone or within the limit now; drop them: {stale}"


def test_no_function_is_longer_than_the_limit_unless_allowed_and_no_allowance_is_stale() -> None:
    allowed = load_allowlist().functions
    over = {f.name: f.lines for p in modules() for f in functions(p) if f.lines > MAX_FUNCTION_LINES}
    offenders = [f"{name} ({lines} lines)" for name, lines in sorted(over.items()) if name not in allowed]
    stale = sorted(set(allowed) - set(over))
    assert not offenders, (
        f"functions over {MAX_FUNCTION_LINES} lines: split them, or say why in {ALLOWLIST.name}: {offenders}"
    )
    assert not stale, (
        f"{ALLOWLIST.name} allows functions that are gone or within the limit now; drop them: {stale}"
    )


def test_every_allowance_gives_a_reason() -> None:
    allowed = load_allowlist()
    blank = [name for name, why in {**allowed.modules, **allowed.functions}.items() if not why.strip()]
    assert not blank, f"allowances without a reason: {blank}"
