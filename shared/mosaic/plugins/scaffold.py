"""``mosaic plugin new <name>``: a new plugin package, ready to install, run and test.

    scaffold("open_house", Path("plugins"))  # -> plugins/open_house/

The package has a manifest, one example object declared through ``mosaic_objects``, a README and
a test that runs the plugin against the embedded stack with the ``mosaic`` pytest plugin
(:mod:`mosaic.testing.pytest_plugin`). The templates are strings here rather than package data
files, so an installed ``mosaic-crm`` never lacks them.
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from string import Template

from mosaic.errors import Conflict, ValidationFailed

#: a plugin name: snake_case, a letter first, single underscores only (``__`` joins a namespace).
#: 40 characters leave room for the derived names (``<name>__notes``, ``mosaic_<name>``) within
#: the platform's 63-character identifiers.
PLUGIN_NAME_RE = re.compile(r"^[a-z](?:[a-z0-9]|_(?!_))*$")
MAX_NAME_LENGTH = 40
MAX_LABEL_LENGTH = 80

PYPROJECT = Template('''\
[build-system]
requires = ["setuptools>=68", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = $label_toml
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["mosaic-crm>=0.2"]

[project.optional-dependencies]
test = ["pytest>=8"]

# Mosaic finds the plugin through this entry point once the package is installed.
[project.entry-points."mosaic.plugins"]
$name = "$module.plugin"

[tool.setuptools]
packages = ["$module"]

[tool.pytest.ini_options]
testpaths = ["tests"]
''')

README = Template('''\
# $label

A plugin for Mosaic CRM (namespace `$name`, package `$dist`). It declares one example object,
`${name}__note` (a note with a title, hosted by the contacts service), to build on.
See Mosaic's `docs/plugins.md` for the guide and the reference of every hook.

## Install

```sh
pip install -e plugins/$name
```

The `mosaic.plugins` entry point in `pyproject.toml` makes every Mosaic process load the plugin
on start-up; restart them after installing. During development, without installing, put the
package on the path and name the module instead:
`PYTHONPATH=plugins/$name MOSAIC_PLUGINS=$module.plugin mosaic run`.

## Enable it for a tenant

Installed plugins are off for every tenant until a tenant admin enables them:

```sh
curl -X PUT -H "Authorization: Bearer $$TOKEN" http://127.0.0.1:8000/api/v1/admin/plugins/$name
```

`DELETE` on the same URL disables it again: its objects and fields are hidden, their data kept.
The records of the example object are then at `/api/v1/${name}__notes`.

## Test

```sh
pytest plugins/$name
```

The tests start Mosaic's embedded stack once per session (the `mosaic_stack` fixture of Mosaic's
pytest plugin), create a fresh tenant per test with this plugin enabled (`mosaic_client`;
`tests/conftest.py` names the plugin) and talk to it over HTTP. Without installing the package:
`PYTHONPATH=plugins/$name MOSAIC_PLUGINS=$module.plugin pytest plugins/$name`.
''')

INIT = Template('''\
"""$label: a Mosaic CRM plugin (the hooks are in :mod:`$module.plugin`)."""

__version__ = "0.1.0"
''')

PLUGIN = Template('''\
"""$label: the module Mosaic loads (entry point ``mosaic.plugins``: ``$name``).

Every hook is described in Mosaic's docs/plugins.md ("Hook reference"). Implement one by
defining a function of the hook's name decorated with ``@hookimpl``.
"""
from mosaic.metadata.fields import SYSTEM_FIELDS, FieldDef, FieldType, ObjectDef
from mosaic.plugins import Manifest, hookimpl

from $module import __version__

MANIFEST = Manifest(
    name="$name",
    version=__version__,
    core=">=0.2,<1",  # the Mosaic versions this plugin is tested with
    label=$label_py,
    description="Describe what the plugin adds.",
    modules=("contacts",),  # a tenant needs these modules enabled to enable the plugin
)

#: The plugin's objects are named ``${name}__<object>``; their own fields are not prefixed.
NOTE = ObjectDef(
    name="${name}__note",
    label="Note",
    plural="${name}__notes",  # the record API: /api/v1/${name}__notes
    service="contacts",
    title_field="title",
    description="An example object of the $name plugin.",
    fields=SYSTEM_FIELDS + (
        FieldDef("title", FieldType.TEXT, "Title", required=True, max_length=200),
    ),
)


@hookimpl
def mosaic_objects():
    """The plugin's objects."""
    return [NOTE]
''')

CONFTEST = Template('''\
"""Every test's tenant (``mosaic_client``) has this plugin enabled unless the test says
otherwise with ``@pytest.mark.mosaic_plugins(...)``."""
import pytest


@pytest.fixture
def mosaic_plugins():
    return ["$name"]
''')

TEST = Template('''\
"""$label over HTTP, on Mosaic's embedded stack (fixtures from the ``mosaic`` pytest plugin)."""
import pytest


def test_a_note_is_created_and_read_back(mosaic_client):
    created = mosaic_client.json("POST", "/${name}__notes", expected=201, json={"title": "First note"})
    fetched = mosaic_client.json("GET", f"/${name}__notes/{created['id']}")
    assert fetched["title"] == "First note"
    listed = mosaic_client.json("GET", "/${name}__notes")
    assert [item["id"] for item in listed["items"]] == [created["id"]]


@pytest.mark.mosaic_plugins()  # a tenant without the plugin
def test_a_tenant_without_the_plugin_does_not_see_its_objects(mosaic_client):
    assert mosaic_client.get("/${name}__notes").status_code == 404
    assert mosaic_client.post("/${name}__notes", json={"title": "x"}).status_code == 404
''')


def check_name(name: str) -> None:
    """Raise :class:`~mosaic.errors.ValidationFailed` unless ``name`` can name a new plugin."""
    problem = None
    if not isinstance(name, str) or not name:
        problem = "A plugin name is required."
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"At most {MAX_NAME_LENGTH} characters."
    elif "__" in name:
        problem = "No double underscore: '__' joins the plugin's namespace to its object names."
    elif not PLUGIN_NAME_RE.match(name) or name.endswith("_"):
        problem = ("Use snake_case: lower-case letters, digits and single underscores, starting with "
                   "a letter and not ending with an underscore (e.g. open_house).")
    elif importlib.util.find_spec(f"mosaic_{name}") is not None:
        problem = f"A Python package named mosaic_{name} already exists; choose another name."
    if problem:
        raise ValidationFailed(f"Invalid plugin name {name!r}: {problem}", errors={"name": [problem]})


def render(name: str, label: str | None = None) -> dict[str, str]:
    """The files of a new plugin package: relative path -> text. Checks ``name`` and ``label``."""
    check_name(name)
    label = default_label(name) if label is None else label.strip()
    if not label or len(label) > MAX_LABEL_LENGTH or any(ord(c) < 32 for c in label):
        raise ValidationFailed("Invalid plugin label.",
                               errors={"label": [f"One line of 1 to {MAX_LABEL_LENGTH} characters."]})
    module = f"mosaic_{name}"
    values = {"name": name, "module": module, "dist": "mosaic-" + name.replace("_", "-"),
              "label": label, "label_py": repr(label), "label_toml": json.dumps(label)}
    return {
        "pyproject.toml": PYPROJECT.substitute(values),
        "README.md": README.substitute(values),
        f"{module}/__init__.py": INIT.substitute(values),
        f"{module}/plugin.py": PLUGIN.substitute(values),
        "tests/conftest.py": CONFTEST.substitute(values),
        f"tests/test_{name}_plugin.py": TEST.substitute(values),
    }


def default_label(name: str) -> str:
    """``open_house`` -> ``Open House``."""
    return name.replace("_", " ").title()


def scaffold(name: str, target_dir: Path | str, *, label: str | None = None) -> Path:
    """Create the package of plugin ``name`` in ``target_dir/name`` and return that directory.

    Raises ValidationFailed for a bad name or label, Conflict if the directory exists.
    """
    files = render(name, label)
    root = Path(target_dir) / name
    if root.exists():
        raise Conflict(f"{root} already exists; choose another name or remove it.",
                       errors={"name": [f"{root} already exists."]})
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def new_command(name: str, directory: str = "plugins", label: str | None = None) -> int:
    """``mosaic plugin new``: scaffold, then tell the developer what to do next."""
    root = scaffold(name, directory, label=label)
    print(f"created plugin {name} in {root}\n"
          f"  install:  pip install -e {root}\n"
          f"  enable:   PUT /api/v1/admin/plugins/{name} (as a tenant admin)\n"
          f"  test:     pytest {root}")
    return 0
