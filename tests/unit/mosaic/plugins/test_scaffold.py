"""``mosaic plugin new``: the package it writes installs, loads in the plugin host and names
things the way the host requires; bad names are refused with a clear error."""
from __future__ import annotations

import sys
import tomllib

import pytest

from mosaic.errors import Conflict, ValidationFailed
from mosaic.metadata.fields import FieldType
from mosaic.plugins import PluginHost
from mosaic.plugins.scaffold import new_command, render, scaffold


@pytest.fixture
def importable(monkeypatch):
    """Put a scaffolded package on sys.path and forget its modules afterwards, so each test
    imports its own copy."""
    added: list[str] = []

    def add(root, module):
        monkeypatch.syspath_prepend(str(root))
        added.append(module)

    yield add
    for module in added:
        for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
            del sys.modules[name]


def test_scaffold_writes_an_installable_package(tmp_path):
    root = scaffold("open_house", tmp_path / "plugins")
    assert root == tmp_path / "plugins" / "open_house"
    for rel in ("pyproject.toml", "README.md", "mosaic_open_house/__init__.py", "mosaic_open_house/plugin.py",
                "tests/conftest.py", "tests/test_open_house_plugin.py"):
        assert (root / rel).is_file(), rel
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    project = meta["project"]
    assert project["name"] == "mosaic-open-house"
    assert project["version"] == "0.1.0"
    assert project["requires-python"] == ">=3.11"
    assert project["dependencies"] == ["mosaic-crm>=0.2"]
    assert project["entry-points"]["mosaic.plugins"] == {"open_house": "mosaic_open_house.plugin"}
    assert meta["build-system"]["build-backend"] == "setuptools.build_meta"
    assert meta["tool"]["setuptools"]["packages"] == ["mosaic_open_house"]


def test_every_generated_python_file_compiles(tmp_path):
    for rel, text in render("open_house").items():
        if rel.endswith(".py"):
            compile(text, rel, "exec")


def test_the_generated_plugin_loads_and_declares_its_object(tmp_path, importable):
    root = scaffold("sdk_probe", tmp_path)
    importable(root, "mosaic_sdk_probe")
    host = PluginHost().load(["mosaic_sdk_probe.plugin"], discover=False)
    assert host.failures == {}
    plugin = host.plugins["sdk_probe"]
    assert plugin.manifest.core == ">=0.2,<1"
    assert plugin.manifest.modules == ("contacts",)
    assert plugin.manifest.version == "0.1.0"
    note = next(o for o in host.declarations.objects if o.name == "sdk_probe__note")
    assert (note.service, note.kind, note.namespace, note.path) == ("contacts", "plugin", "sdk_probe",
                                                                    "sdk_probe__notes")
    assert note.title_field == "title"
    assert note.field("title").type is FieldType.TEXT and note.field("title").required
    assert note in host.objects_for("contacts")


def test_the_generated_tests_use_the_harness(tmp_path):
    files = render("open_house")
    assert 'return ["open_house"]' in files["tests/conftest.py"]
    test = files["tests/test_open_house_plugin.py"]
    assert "def test_" in test and "mosaic_client" in test and "/open_house__notes" in test
    assert "@pytest.mark.mosaic_plugins()" in test and "404" in test
    readme = files["README.md"]
    assert "pip install -e plugins/open_house" in readme
    assert "PUT" in readme and "/api/v1/admin/plugins/open_house" in readme
    assert "pytest plugins/open_house" in readme


def test_a_label_is_quoted_safely(tmp_path, importable):
    root = scaffold("quoted_label", tmp_path, label='Owner\'s "best" notes')
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert meta["project"]["description"] == 'Owner\'s "best" notes'
    importable(root, "mosaic_quoted_label")
    host = PluginHost().load(["mosaic_quoted_label.plugin"], discover=False)
    assert host.plugins["quoted_label"].manifest.label == 'Owner\'s "best" notes'


@pytest.mark.parametrize("name, why", [
    ("", "required"),
    ("OpenHouse", "snake_case"),
    ("open-house", "snake_case"),
    ("1house", "snake_case"),
    ("open house", "snake_case"),
    ("trailing_", "snake_case"),
    ("open__house", "double underscore"),
    ("x" * 41, "At most 40"),
    ("contacts", "mosaic_contacts already exists"),
])
def test_bad_names_are_refused(tmp_path, name, why):
    with pytest.raises(ValidationFailed) as err:
        scaffold(name, tmp_path)
    assert why in err.value.errors["name"][0]
    assert not any(tmp_path.iterdir())


def test_a_bad_label_is_refused(tmp_path):
    with pytest.raises(ValidationFailed) as err:
        scaffold("open_house", tmp_path, label="two\nlines")
    assert "label" in err.value.errors


def test_an_existing_directory_is_not_overwritten(tmp_path):
    (tmp_path / "open_house").mkdir()
    (tmp_path / "open_house" / "mine.txt").write_text("keep")
    with pytest.raises(Conflict) as err:
        scaffold("open_house", tmp_path)
    assert "already exists" in err.value.detail
    assert [p.name for p in (tmp_path / "open_house").iterdir()] == ["mine.txt"]


def test_the_command_prints_the_next_steps(tmp_path, capsys):
    assert new_command("open_house", str(tmp_path / "plugins")) == 0
    out = capsys.readouterr().out
    assert f"created plugin open_house in {tmp_path / 'plugins' / 'open_house'}" in out
    assert "PUT /api/v1/admin/plugins/open_house" in out
    assert (tmp_path / "plugins" / "open_house" / "pyproject.toml").is_file()


def test_mosaic_plugin_new_on_the_command_line(tmp_path, capsys):
    from mosaic.cli import main

    assert main(["plugin", "new", "open_house", "--dir", str(tmp_path), "--label", "Open house"]) == 0
    assert "created plugin open_house" in capsys.readouterr().out
    assert "label='Open house'" in (tmp_path / "open_house" / "mosaic_open_house" / "plugin.py").read_text()
    assert main(["plugin", "new", "Bad-Name", "--dir", str(tmp_path)]) == 1
    assert "snake_case" in capsys.readouterr().err
