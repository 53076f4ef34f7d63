"""The record routes' own helpers (the routes themselves are walked end to end in
tests/e2e/test_records_api.py)."""
import pytest
from flask import url_for

from mosaic_gateway import routes_records
from mosaic_gateway.app import ObjectPath


@pytest.fixture
def records_app(make_app):
    app = make_app()
    app.url_map.converters["objpath"] = ObjectPath
    app.register_blueprint(routes_records.bp)
    return app


@pytest.mark.parametrize("script_root", ["", "/crm"])
@pytest.mark.parametrize("record_id", ["0b7c1e2a-6d1f-4d0e-9a53-2f4e8c7b9a10", "a b/c?d#e%f", "é!$&'()*+,:;=@"])
def test_a_created_records_location_is_what_url_for_builds(records_app, script_root, record_id):
    with records_app.test_request_context("/api/v1/custom-things", method="POST",
                                          base_url=f"http://localhost{script_root}"):
        assert url_for("records.get_record", path="x", record_id="1").startswith(f"{script_root}/api/v1/")
        assert routes_records._record_url(record_id) == url_for(
            "records.get_record", path="custom-things", record_id=record_id)
