"""Import and export through the gateway, with the real contacts service in this process (the
embedded mode's in-process broker, SQLite): upload, progress, rejected rows as CSV, export of a
filtered list, route precedence over record ids, limits, and the ``mosaic import`` client."""
from __future__ import annotations

import csv
import io
import threading
import time

import pytest
from werkzeug.serving import make_server

from mosaic.cli import build_parser
from mosaic.db import Base, get_engine, system_session
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import load_models, owned_tables
from mosaic.import_client import run_import
from mosaic.rpc import RpcPool
from mosaic.runtime import start_service
from mosaic_gateway import identity
from mosaic_gateway.app import create_app

PASSWORD = "correct horse battery"
CSV = ("First name,Last name,Email,Phone\n"
       "Ann,Lee,ann@example.com,+86 138 0013 8000\n"
       "\n"
       "Bob,Ng,not-an-email,\n"
       "Ann,Again,ANN@example.com,\n"
       '"Carl, Jr.","Multi\nLine",carl@example.com,\n')


@pytest.fixture
def stack(settings, memory_broker):
    """Gateway app + running contacts service on the in-process broker, with a tenant whose
    admin is logged in: ``(client, headers, settings)``."""
    settings = settings.with_(amqp_uri="memory://", max_upload=20_000)
    load_models()
    Base.metadata.create_all(get_engine(settings, "contacts"),
                             tables=[Base.metadata.tables[t] for t in owned_tables("contacts")])
    Base.metadata.create_all(get_engine(settings, "gateway"),
                             tables=[Base.metadata.tables[t] for t in owned_tables("gateway")])
    with system_session(get_engine(settings, "gateway")) as session:
        identity.create_tenant(session, "acme", "Acme", "admin@acme.test", PASSWORD, modules=("contacts",))
        session.commit()
    container = start_service(settings, "contacts")
    rpc = RpcPool("memory://", size=4, timeout=20)
    app = create_app(settings, rpc)
    client = app.test_client()
    login = client.post("/api/v1/auth/login", json={"tenant": "acme", "email": "admin@acme.test",
                                                    "password": PASSWORD})
    assert login.status_code == 200, login.get_json()
    headers = {"Authorization": f"Bearer {login.get_json()['access_token']}"}
    yield client, headers, app
    container.stop()
    rpc.close()
    dispose_engines()


def wait_done(client, headers, location: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        job = client.get(location, headers=headers).get_json()
        if job["status"] in ("finished", "failed"):
            return job
        assert time.monotonic() < deadline, f"import still {job['status']}"
        time.sleep(0.2)


def test_upload_progress_errors_csv_and_export(stack):
    client, headers, _ = stack
    response = client.post("/api/v1/contacts/imports?policy=skip&filename=people.csv", data=CSV,
                           headers={**headers, "Content-Type": "text/csv"})
    assert response.status_code == 202, response.get_json()
    queued = response.get_json()
    assert queued["status"] == "queued" and queued["total_rows"] == 4 and queued["filename"] == "people.csv"
    assert response.headers["Location"] == f"/api/v1/imports/{queued['id']}"
    job = wait_done(client, headers, response.headers["Location"])
    assert (job["status"], job["rows_done"], job["created"], job["skipped"], job["failed"]) == ("finished", 4, 2, 1, 1)
    listed = client.get("/api/v1/imports", headers=headers).get_json()["items"]
    assert [j["id"] for j in listed] == [job["id"]]

    errors = client.get(f"/api/v1/imports/{job['id']}/errors.csv", headers=headers)
    assert errors.status_code == 200 and errors.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(errors.get_data(as_text=True))))
    assert rows[0] == ["First name", "Last name", "Email", "Phone", "_row", "_errors"]
    assert rows[1][:5] == ["Bob", "Ng", "not-an-email", "", "3"] and rows[1][5].startswith("email:")

    export = client.get("/api/v1/contacts/export.csv?filter=email%20contains%20%22example%22"
                        "&sort=email&fields=first_name,last_name,email", headers=headers)
    assert export.status_code == 200 and "attachment" in export.headers["Content-Disposition"]
    assert list(csv.reader(io.StringIO(export.get_data(as_text=True)))) == [
        ["first_name", "last_name", "email"], ["Ann", "Lee", "ann@example.com"],
        ["Carl, Jr.", "Multi\nLine", "carl@example.com"]]
    everything = list(csv.reader(io.StringIO(client.get("/api/v1/contacts/export.csv", headers=headers)
                                              .get_data(as_text=True))))
    assert everything[0][:2] == ["id", "version"] and len(everything) == 3
    # the record API still owns /contacts/<id>: the import and export rules only take their names
    record = client.get(f"/api/v1/contacts/{everything[1][0]}", headers=headers)
    assert record.status_code == 200 and record.get_json()["id"] == everything[1][0]


def test_bad_uploads_are_refused_with_problems(stack):
    client, headers, _ = stack
    bad_header = client.post("/api/v1/contacts/imports", data="email,shoe size\nx@y.z,42\n",
                             headers={**headers, "Content-Type": "text/csv"})
    assert bad_header.status_code == 422
    assert bad_header.get_json()["errors"]["header"] == ["unknown column 'shoe size'"]
    bad_filter = client.get("/api/v1/contacts/export.csv?filter=shoe_size%20%3D%201", headers=headers)
    assert bad_filter.status_code in (400, 422) and bad_filter.mimetype == "application/problem+json"
    empty = client.post("/api/v1/contacts/imports", data="", headers={**headers, "Content-Type": "text/csv"})
    assert empty.status_code == 422
    too_big = client.post("/api/v1/contacts/imports", data="email\n" + "a@example.com\n" * 3000,
                          headers={**headers, "Content-Type": "text/csv"})
    assert too_big.status_code == 413
    not_utf8 = client.post("/api/v1/contacts/imports", data=b"email\n\xe9t\xe9@x.com\n",  # latin-1
                           headers={**headers, "Content-Type": "text/csv"})
    assert not_utf8.status_code == 400 and "UTF-8" in not_utf8.get_json()["detail"]
    # the oversized upload had started a job (its header was fine): it was aborted, not left open
    (job,) = client.get("/api/v1/imports", headers=headers).get_json()["items"]
    assert job["status"] == "failed" and "limited to 20000 bytes" in job["error"]
    assert client.get("/api/v1/imports/nope", headers=headers).status_code == 404
    assert client.post("/api/v1/contacts/imports", data="email\n", headers=headers,
                       content_type="application/json").status_code == 400


def test_multipart_upload_and_the_cli_against_the_gateway(stack, tmp_path):
    client, headers, app = stack
    response = client.post("/api/v1/contacts/imports?policy=create", headers=headers,
                           data={"file": (io.BytesIO(b"\xef\xbb\xbfEmail\nzed@example.com\n"), "zed.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    job = wait_done(client, headers, response.headers["Location"])
    assert (job["filename"], job["created"]) == ("zed.csv", 1)

    server = make_server("127.0.0.1", 0, app, threaded=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        path = tmp_path / "people.csv"
        path.write_text("email,first_name\nyan@example.com,Yan\nbroken,Bad\n")
        errors_out = tmp_path / "rejected.csv"
        args = build_parser().parse_args(["import", str(path), "--object", "contacts", "--url", f"http://127.0.0.1:{server.server_port}",
                                          "--token", headers["Authorization"].split()[1],
                                          "--errors-out", str(errors_out)])
        out = io.StringIO()
        code = run_import(None, args, out=out, err=io.StringIO(), interval=0.2)
    finally:
        server.shutdown()
    assert code == 0, out.getvalue()
    assert "1 created, 0 updated, 0 skipped, 1 rejected" in out.getvalue()
    assert "broken" in errors_out.read_text()
