"""mosaic.config.check_keys: the distributed mode refuses published or short keys."""
from __future__ import annotations

import pytest

from mosaic.config import KNOWN_KEYS, MIN_SECRET_KEY, Settings, ensure_secret

GOOD_SECRET = "k" * MIN_SECRET_KEY
GOOD_OPERATOR = "o" * 16


def distributed(**keys) -> Settings:
    return Settings(mode="distributed", **{"secret_key": GOOD_SECRET, "operator_key": GOOD_OPERATOR, **keys})


def test_good_keys_start():
    settings = distributed()
    assert ensure_secret(settings) is settings


def test_no_operator_key_is_allowed_the_operator_api_is_off():
    assert ensure_secret(distributed(operator_key="")).operator_key == ""


@pytest.mark.parametrize("secret", sorted(KNOWN_KEYS) + ["Dev-Secret-Key-Change-Me"])
def test_a_published_secret_key_is_refused(secret):
    with pytest.raises(RuntimeError, match="MOSAIC_SECRET_KEY is a published default") as info:
        ensure_secret(distributed(secret_key=secret))
    if len(secret) > 10:  # the message names the setting, never its value
        assert secret not in str(info.value)


@pytest.mark.parametrize("operator", ["dev-operator-key", "changeme"])
def test_a_published_operator_key_is_refused(operator):
    with pytest.raises(RuntimeError, match="MOSAIC_OPERATOR_KEY is a published default"):
        ensure_secret(distributed(operator_key=operator))


def test_short_keys_are_refused_both_named():
    with pytest.raises(RuntimeError) as info:
        ensure_secret(distributed(secret_key="x" * (MIN_SECRET_KEY - 1), operator_key="short"))
    assert "MOSAIC_SECRET_KEY is too short" in str(info.value)
    assert "MOSAIC_OPERATOR_KEY is too short" in str(info.value)


def test_a_missing_secret_key_is_refused():
    with pytest.raises(RuntimeError, match="MOSAIC_SECRET_KEY must be set"):
        ensure_secret(distributed(secret_key=""))


def test_the_embedded_mode_generates_its_key(tmp_path):
    settings = ensure_secret(Settings(mode="embedded", data_dir=tmp_path))
    assert len(settings.secret_key) >= MIN_SECRET_KEY
    assert ensure_secret(Settings(mode="embedded", data_dir=tmp_path)).secret_key == settings.secret_key
