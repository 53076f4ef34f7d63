"""The `mosaic` command line: parsing, and the operator's tenant creation on the embedded mode."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from mosaic.cli import build_parser, main
from mosaic.config import load_settings
from mosaic.db import get_engine, system_session
from mosaic.db.engine import dispose_engines
from mosaic_gateway.identity import verify_login
from mosaic_gateway.models import Tenant


def test_parser_knows_every_process():
    parser = build_parser()
    assert parser.parse_args(["serve", "contacts"]).process == "contacts"
    assert parser.parse_args(["relay", "contacts"]).service == "contacts"
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "nonexistent"])


def test_tenant_create_then_login(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MOSAIC_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MOSAIC_MODE", raising=False)
    assert main(["tenant", "create", "acme", "--name", "Acme", "--admin-email", "boss@acme.test"]) == 0
    out = capsys.readouterr().out
    password = out.split("password ", 1)[1].split(" ", 1)[0]
    engine = get_engine(load_settings({"MOSAIC_DATA_DIR": str(tmp_path)}), "gateway")
    with system_session(engine) as session:
        assert session.scalar(select(Tenant.modules).where(Tenant.slug == "acme")) == ["contacts"]
        assert verify_login(session, "acme", "boss@acme.test", password).email == "boss@acme.test"
    dispose_engines()


def test_tenant_create_with_bad_input_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MOSAIC_DATA_DIR", str(tmp_path))
    code = main(["tenant", "create", "Bad Slug!", "--name", "X", "--admin-email", "a@b.test",
                 "--admin-password", "short"])
    assert code == 1
    assert "error" in capsys.readouterr().err.lower()
    dispose_engines()
