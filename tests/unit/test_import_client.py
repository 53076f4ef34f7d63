"""``mosaic import``: upload, progress polling, summary, errors file and exit codes, against a
small HTTP server that plays the gateway's import endpoints (the real ones are tested in
tests/unit/gateway/test_routes_imports.py)."""
from __future__ import annotations

import io
import threading

import pytest
from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server

from mosaic.cli import build_parser
from mosaic.config import Settings
from mosaic.import_client import auth_header, run_import, summary

ERRORS_CSV = "email,_row,_errors\nnope,3,email: Not a valid email address.\n"


def make_gateway(final_status: str = "finished", polls: int = 2, failed: int = 1):
    """A stand-in gateway; ``seen`` records what the client sent."""
    app = Flask("fake-gateway")
    seen: dict = {"polls": 0}

    def job(status: str, done: int) -> dict:
        return {"id": "job-1", "object": "contact", "status": status, "policy": seen.get("policy"),
                "total_rows": 3, "rows_done": done, "created": done - min(done, failed), "updated": 0,
                "skipped": 0, "failed": min(done, failed), "error": "disk full" if status == "failed" else None}

    @app.post("/api/v1/<path>/imports")
    def upload(path):
        seen.update(path=path, policy=request.args.get("policy"), filename=request.args.get("filename"),
                    auth=request.headers.get("Authorization"), body=request.get_data(as_text=True),
                    content_type=request.mimetype)
        if "bad" in seen["body"]:
            return Response('{"title": "Validation failed", "detail": "unknown columns", '
                            '"errors": {"header": ["unknown column \'bad\'"]}}', status=422,
                            mimetype="application/problem+json")
        return jsonify(job("queued", 0)), 202

    @app.get("/api/v1/imports/<job_id>")
    def status(job_id):
        seen["polls"] += 1
        if seen["polls"] < polls:
            return jsonify(job("running", 1))
        return jsonify(job(final_status, 3 if final_status == "finished" else 2))

    @app.get("/api/v1/imports/<job_id>/errors.csv")
    def errors(job_id):
        return Response(ERRORS_CSV, mimetype="text/csv")

    return app, seen


@pytest.fixture
def serve():
    """``serve(app)`` -> base URL of ``app`` served on a free local port for the test."""
    servers = []

    def factory(app) -> str:
        server = make_server("127.0.0.1", 0, app)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"
    yield factory
    for server in servers:
        server.shutdown()


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email,first_name\nann@example.com,Ann\nnope,Bob\ncarl@example.com,Carl\n")
    return path


def run(argv: list[str], **kw) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_import(Settings(), build_parser().parse_args(["import", "--object", "contacts", *argv]), out=out, err=err,
                      interval=0.01, **kw)
    return code, out.getvalue(), err.getvalue()


def test_upload_follow_and_save_rejected_rows(serve, csv_file, tmp_path):
    app, seen = make_gateway()
    base = serve(app)
    errors_out = tmp_path / "rejected.csv"
    code, out, err = run([str(csv_file), "--object", "contacts", "--policy", "update", "--url", base,
                          "--token", "eyJ.a.b", "--errors-out", str(errors_out)])
    assert code == 0, err
    assert seen["path"] == "contacts" and seen["policy"] == "update" and seen["filename"] == "people.csv"
    assert seen["auth"] == "Bearer eyJ.a.b" and seen["content_type"] == "text/csv"
    assert seen["body"] == csv_file.read_text() and seen["polls"] == 2
    assert "import job-1 finished: 3 rows: 2 created, 0 updated, 0 skipped, 1 rejected" in out
    assert errors_out.read_text() == ERRORS_CSV


def test_a_failed_job_exits_1_with_its_error(serve, csv_file):
    app, _ = make_gateway(final_status="failed")
    code, out, _ = run([str(csv_file), "--url", serve(app), "--token", "t"])
    assert code == 1 and "FAILED" in out and "disk full" in out


def test_a_refused_upload_shows_the_problem(serve, tmp_path):
    app, _ = make_gateway()
    bad = tmp_path / "bad.csv"
    bad.write_text("bad\n1\n")
    code, _, err = run([str(bad), "--url", serve(app), "--token", "t"])
    assert code == 1 and "HTTP 422: unknown columns" in err and "unknown column 'bad'" in err


def test_token_from_the_environment_and_api_keys(serve, csv_file, monkeypatch):
    app, seen = make_gateway()
    monkeypatch.setenv("MOSAIC_TOKEN", "mk_abcd1234_secret")
    code, _, _ = run([str(csv_file), "--url", serve(app)])
    assert code == 0 and seen["auth"] == "ApiKey mk_abcd1234_secret"
    assert auth_header("eyJhbGciOi.x.y") == {"Authorization": "Bearer eyJhbGciOi.x.y"}


def test_missing_token_file_or_server(csv_file, monkeypatch):
    monkeypatch.delenv("MOSAIC_TOKEN", raising=False)
    code, _, err = run([str(csv_file), "--url", "http://127.0.0.1:9"])
    assert code == 1 and "MOSAIC_TOKEN" in err
    code, _, err = run(["/no/such.csv", "--token", "t"])
    assert code == 1 and "no such file" in err
    code, _, err = run([str(csv_file), "--url", "http://127.0.0.1:9", "--token", "t"])
    assert code == 1 and "mosaic import:" in err


def test_summary_line():
    assert summary({"id": "j", "status": "finished", "rows_done": 5, "created": 4, "updated": 0,
                    "skipped": 1, "failed": 0}) == "import j finished: 5 rows: 4 created, 0 updated, 1 skipped, 0 rejected"
