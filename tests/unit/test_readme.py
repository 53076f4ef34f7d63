"""The README stays true: its env table is the config's, and it gives the two commands."""
from pathlib import Path

from mosaic.config import ENV_VARS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_documented_with_its_default():
    for name, (default, _meaning) in ENV_VARS.items():
        shown = f"`{default}`" if default else "(empty)"
        assert f"| `{name}` | {shown} |" in README, name


def test_the_two_fresh_machine_commands_come_first():
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert "make run" in first_block and "make test" in first_block
