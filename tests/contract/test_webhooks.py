"""The signature check that docs/webhooks.md gives integrators works on a real delivery: the
Python block under its ``verify-snippet`` marker is run against the body and headers a real
``mosaic run`` process posted to a receiver on 127.0.0.1."""
from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

from tests.e2e.conftest import make_tenant
from tests.e2e.test_lowcode_api import Receiver

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verifier():
    """``verify_mosaic_signature`` as defined by the snippet in the docs, nothing else."""
    text = DOC.read_text()
    match = re.search(r"<!-- verify-snippet[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/webhooks.md has no verify-snippet block"
    namespace: dict = {}
    exec(compile(match.group(1), str(DOC), "exec"), namespace)  # noqa: S102 — our own documentation
    return namespace["verify_mosaic_signature"]


def test_documented_snippet_verifies_a_real_delivery(embedded_stack):
    verify = documented_verifier()
    api = make_tenant(embedded_stack)
    receiver = Receiver()
    try:
        created = api.post("webhooks", {"url": receiver.url, "events": ["contact.created"]})
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        contact = api.post("contacts", {"last_name": "Signed-" + uuid.uuid4().hex[:6]}).json()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not receiver.requests:
            time.sleep(0.3)
        assert receiver.requests, "no delivery arrived"
        headers, body = receiver.requests[0]
    finally:
        receiver.close()
    assert json.loads(body)["record_id"] == contact["id"]
    assert headers["Mosaic-Event"] == "contact.created" and headers["Mosaic-Delivery"]
    assert headers["User-Agent"] == "Mosaic-Webhooks/1"
    signature = headers["Mosaic-Signature"]
    assert verify(secret, body, signature) is True
    assert verify(secret, body + b" ", signature) is False  # a changed body
    assert verify("another secret", body, signature) is False
    stamp = int(re.search(r"t=(\d+)", signature).group(1))
    old = signature.replace(f"t={stamp}", f"t={stamp - 301}")
    assert verify(secret, body, old) is False  # outside the tolerance (and no longer signed)
