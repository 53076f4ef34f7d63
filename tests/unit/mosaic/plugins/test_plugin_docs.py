"""The plugin contract stays documented and tested: every hookspec has a complete docstring,
a section in docs/plugins.md and at least one test that names it."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from mosaic.plugins import hookspecs

ROOT = Path(__file__).resolve().parents[4]
GUIDE = ROOT / "docs" / "plugins.md"
HOOKS = hookspecs.hook_names()


def _spec(name: str):
    return getattr(hookspecs, name)


def _section(name: str) -> str:
    """The text of ``### <name>`` up to the next ``##``/``###`` heading (a ``#`` line inside a
    code block is a comment, not a heading)."""
    text = GUIDE.read_text()
    match = re.search(rf"^### {re.escape(name)}\s*$(.*?)(?=^#{{2,3}} |\Z)", text, re.M | re.S)
    return match.group(1) if match else ""


def _test_files() -> list[Path]:
    files = []
    for top in ("tests", "plugins"):
        for path in (ROOT / top).rglob("test_*.py"):
            if ".venv" in path.parts or "site-packages" in path.parts or path.name == Path(__file__).name:
                continue
            files.append(path)
    return files


def test_every_hookspec_is_listed_in_the_groups():
    declared = sorted(n for n, f in vars(hookspecs).items() if callable(f) and hasattr(f, "mosaic_spec"))
    assert declared == sorted(HOOKS)
    assert HOOKS, "no hooks found"


@pytest.mark.parametrize("name", HOOKS)
def test_every_hookspec_documents_its_parameters_and_version(name):
    doc = inspect.getdoc(_spec(name))
    assert doc, f"{name} has no docstring"
    for param in inspect.signature(_spec(name)).parameters:
        assert f":param {param}:" in doc, f"{name}: no ':param {param}:' in its docstring"
    assert ".. versionadded::" in doc, f"{name}: no versionadded"
    if inspect.signature(_spec(name)).return_annotation not in (None, "None"):
        assert ":returns:" in doc, f"{name}: the docstring does not say what to return"


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_has_a_section_in_the_guide(name):
    section = _section(name)
    assert section.strip(), f"docs/plugins.md has no '### {name}' section"
    for param in inspect.signature(_spec(name)).parameters:
        assert f"`{param}`" in section, f"docs/plugins.md, {name}: parameter {param} is not described"
    assert "```python" in section, f"docs/plugins.md, {name}: no example"


def test_the_guide_covers_every_topic():
    text = GUIDE.read_text()
    headings = {line.lstrip("#").strip().lower() for line in text.splitlines() if line.startswith("## ")}
    for topic in ("the manifest", "namespacing", "enabling per tenant", "processes", "automation rules",
                  "validation rules", "formula fields", "gateway routes", "testing", "installing",
                  "compatibility", "hook reference"):
        assert any(topic in h for h in headings), f"docs/plugins.md has no '## {topic}' section"


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_named_in_a_test(name):
    # A hook's name in a test file is the cheap, honest proxy for "some test exercises it":
    # adding a hook without a test fails here.
    users = [p for p in _test_files() if name in p.read_text(errors="replace")]
    assert users, f"no test_*.py under tests/ or plugins/ mentions {name}"
