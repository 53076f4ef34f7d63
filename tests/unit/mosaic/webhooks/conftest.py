"""Fixtures for the webhook unit tests: a SQLite database, an envelope factory, and a real HTTP
receiver on 127.0.0.1 that answers with the status codes a test scripts."""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mosaic.db import Base, make_engine, tenant_session
from mosaic.events import make_envelope
from mosaic.metadata import METADATA_TABLES
from mosaic.webhooks import WEBHOOK_TABLES
from mosaic.webhooks.sealing import SecretBox

#: seals and opens the subscriptions' secrets in these tests (the hub's box comes from MOSAIC_SECRET_KEY)
BOX = SecretBox("unit-test-key-" + "k" * 40)


@pytest.fixture
def engine(tmp_path):
    """A fresh SQLite file with the webhook and metadata tables."""
    eng = make_engine(f"sqlite:///{tmp_path / 'webhooks.db'}", "webhooks")
    Base.metadata.create_all(eng, tables=WEBHOOK_TABLES + METADATA_TABLES)
    yield eng
    eng.dispose()


@pytest.fixture
def make_session(engine):
    """``make_session(tenant="t1")``: a tenant session, closed after the test."""
    sessions = []

    def factory(tenant: str = "t1"):
        session = tenant_session(engine, tenant)
        sessions.append(session)
        return session
    yield factory
    for session in sessions:
        session.close()


@pytest.fixture
def make_env():
    """``make_env(**overrides)``: a valid ``contact.created`` envelope of tenant t1."""

    def factory(**overrides) -> dict:
        args = {"type": "contact.created", "tenant_id": "t1", "actor": "user:u1",
                "object": "contact", "record_id": "c1", "data": {"first_name": "Ada"}, "version": 1}
        args.update(overrides)
        return make_envelope(**args)
    return factory


class Receiver:
    """What the test endpoint saw, and what it answers next."""

    def __init__(self, url: str):
        self.url = url
        self.requests: list[dict] = []
        self.statuses: list[int] = []   # answered in order; 200 once exhausted
        self.delay = 0.0                # seconds to wait before answering

    def answer(self, *statuses: int) -> "Receiver":
        """Script the next answers (e.g. 500 then 200)."""
        self.statuses.extend(statuses)
        return self


@pytest.fixture
def receiver():
    """A ``ThreadingHTTPServer`` on a free port of 127.0.0.1, in a thread, stopped after the test."""
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            rec: Receiver = state["receiver"]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            rec.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            if rec.delay:
                time.sleep(rec.delay)
            status = rec.statuses.pop(0) if rec.statuses else 200
            try:
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                pass

        def log_message(self, *args):  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["receiver"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)

