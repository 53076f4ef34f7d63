"""Fixtures of the contacts service's unit tests."""
from __future__ import annotations

import pytest

from mosaic.config import load_settings
from mosaic.db import get_engine
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import migrate


@pytest.fixture
def engine(tmp_path):
    """The contacts service's SQLite database, migrated, in the test's directory."""
    settings = load_settings({"MOSAIC_DATA_DIR": str(tmp_path)})
    migrate(settings, "contacts")
    yield get_engine(settings, "contacts")
    dispose_engines()
