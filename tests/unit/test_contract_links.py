"""Every link a message carries resolves to a document in the repository: each event type's CloudEvents
`dataschema` to its definition in `docs/events.schema.json`, and each problem `type` a service can answer with to
its row in `docs/problems.md` (`DOCS_URL` is where `docs/` is published)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from services.feedback.domain.answers import SurveyUnavailable
from shared import errors
from shared.events import DOCS_URL, REGISTRY, dataschema_of

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SOURCES = [ROOT / "shared", ROOT / "services"]


def markdown_anchors(text: str) -> set[str]:
    """Explicit `<a id>` anchors and GitHub's heading slugs."""
    anchors = set(re.findall(r'<a (?:id|name)="([^"]+)"', text))
    for heading in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE):
        anchors.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return anchors


def resolve(url: str) -> None:
    """Fail unless `url` names a file under docs/ and, when it has a fragment, a place in that file."""
    assert url.startswith(DOCS_URL), f"{url} is not under {DOCS_URL}"
    parts = urlsplit(url)
    path = DOCS / unquote(parts.path.removeprefix(urlsplit(DOCS_URL).path))
    assert path.is_file(), f"{url}: no file {path.relative_to(ROOT)}"
    if not parts.fragment:
        return
    fragment = unquote(parts.fragment)
    if path.suffix == ".json":
        contents = json.loads(path.read_text(encoding="utf-8"))
        resolver = Registry().with_resource(url, DRAFT202012.create_resource(contents)).resolver(base_uri=url)
        assert resolver.lookup("#" + fragment).contents, url
    else:
        assert fragment in markdown_anchors(path.read_text(encoding="utf-8")), f"{url}: no anchor #{fragment}"


@pytest.mark.parametrize("type_", sorted(REGISTRY))
def test_each_event_types_dataschema_resolves_to_its_definition(type_: str) -> None:
    url = dataschema_of(REGISTRY[type_])
    resolve(url)
    assert url.endswith(f"#/$defs/{REGISTRY[type_].__name__}")


def _kinds_of(expr: ast.expr) -> list[str] | None:
    """The kinds a `kind=` expression can take, or None when this test cannot tell."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [expr.value]
    if isinstance(expr, ast.IfExp):
        body, orelse = _kinds_of(expr.body), _kinds_of(expr.orelse)
        return None if body is None or orelse is None else body + orelse
    if ast.unparse(expr) == "f'survey-{exc.kind}'":  # feedback: one kind per reason a survey takes no answer
        reasons = {SurveyUnavailable.kind, *(c.kind for c in SurveyUnavailable.__subclasses__())}
        return [f"survey-{reason}" for reason in sorted(reasons)]
    return None


def problem_kinds() -> tuple[set[str], list[str]]:
    """Every kind the code can answer with (from each `Problem(...)` and `problem_response(...)`: its `kind=`, or
    its title as `problem_response` turns it into one), and the calls whose kind cannot be told from the code."""
    kinds = {title.lower().replace(" ", "-") for title in (*errors._TITLES.values(), "Error")}
    unknown: list[str] = []
    for path in sorted(p for source in SOURCES for p in source.rglob("*.py")):
        passes_on = path == Path(errors.__file__)  # its handlers pass on kinds made elsewhere, and HTTP titles
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name not in ("Problem", "problem_response"):
                continue
            keywords = {k.arg: k.value for k in node.keywords}
            title_at = 1 if name == "Problem" else 2
            title = node.args[title_at] if len(node.args) > title_at else keywords.get("title")
            if "kind" in keywords:
                found = _kinds_of(keywords["kind"])
            elif isinstance(title, ast.Constant) and isinstance(title.value, str):
                found = [title.value.lower().replace(" ", "-")]
            else:
                found = None
            if found is None and not passes_on:
                unknown.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            elif found is not None:
                kinds.update(found)
    return kinds, unknown


def test_every_problem_kind_a_service_answers_is_explained_in_docs_problems() -> None:
    kinds, unknown = problem_kinds()
    assert unknown == [], "give these problems a literal kind (or teach this test their kinds)"
    assert {"validation", "unavailable", "internal", "not-found", "survey-answered"} <= kinds
    for kind in sorted(kinds):
        resolve(errors.TYPE_BASE + kind)


def test_a_problem_answer_carries_a_type_that_resolves() -> None:
    problem = errors.Problem(409, "Conflict", kind="calendar-in-use")
    assert errors.TYPE_BASE + problem.kind == DOCS_URL + "problems.md#calendar-in-use"
    resolve(errors.TYPE_BASE + problem.kind)


def test_a_link_to_a_missing_anchor_does_not_resolve() -> None:
    with pytest.raises(AssertionError):
        resolve(errors.TYPE_BASE + "no-such-kind")
    with pytest.raises(AssertionError):
        resolve(DOCS_URL + "nowhere.md")
