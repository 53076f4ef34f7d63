"""CSV import as a job and CSV export of a filtered list, over HTTP in both run modes, and the
`mosaic import` command against the running gateway."""
from __future__ import annotations

import csv
import io
import subprocess
import time

from tests.e2e.conftest import MOSAIC, ROOT, assert_problem

CSV = """first_name,last_name,email,phone,birthday,lifecycle_stage,tags,score
Ann,Lee,ann@imp.test,+1 555 0100,1990-04-01,lead,vip;new,10
Bob,Ng,bob@imp.test,,not-a-date,lead,,20
Cy,Wu,cy@imp.test,,,prospect,,thirty
Di,Xu,ANN@imp.test,,,customer,,40
Ed,Yo,ed@imp.test,,,nonsense,,50
Fay,Zu,fay@imp.test,,,,,60
"""


def wait_done(api, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(f"imports/{job_id}").json()
        if job["status"] in ("finished", "failed"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"import {job_id} still {job['status']} after {timeout}s")


def test_import_with_bad_rows_dedup_errors_and_export(api):
    api.post("metadata/objects/contact/fields", {"name": "score", "type": "integer"})
    existing = api.post("contacts", {"last_name": "Old", "email": "fay@imp.test"}).json()
    resp = api.post("contacts/imports?policy=skip", data=CSV.encode(), headers={"Content-Type": "text/csv"})
    assert resp.status_code == 202, resp.text
    job = wait_done(api, resp.json()["id"])
    assert job["status"] == "finished", job
    assert (job["total_rows"], job["rows_done"]) == (6, 6)
    # Ann lands; Bob (date), Cy (integer), Ed (stage) are rejected; Di repeats Ann's email and Fay
    # an existing contact's: skipped by the policy.
    assert (job["created"], job["failed"], job["skipped"]) == (1, 3, 2), job

    errors = list(csv.DictReader(io.StringIO(api.get(f"imports/{job['id']}/errors.csv").text)))
    assert [(e["_row"], e["last_name"]) for e in errors] == [("3", "Ng"), ("4", "Wu"), ("6", "Yo")]
    assert "birthday" in errors[0]["_errors"] and "score" in errors[1]["_errors"]

    ann = api.get("contacts", params={"filter": 'email = "ann@imp.test"'}).json()["items"]
    assert len(ann) == 1 and ann[0]["tags"] == ["vip", "new"] and ann[0]["score"] == 10
    assert ann[0]["phone"] == "+15550100" and ann[0]["birthday"] == "1990-04-01"
    assert api.get(f"contacts/{existing['id']}").json()["last_name"] == "Old"  # skipped, untouched

    update = "email,last_name\nfay@imp.test,Updated\n"
    job2 = wait_done(api, api.post("contacts/imports?policy=update", data=update.encode(),
                                   headers={"Content-Type": "text/csv"}).json()["id"])
    assert job2["updated"] == 1
    assert api.get(f"contacts/{existing['id']}").json()["last_name"] == "Updated"

    export = api.get("contacts/export.csv", params={"filter": 'email contains "imp.test"', "sort": "email",
                                                    "fields": "email,last_name,score"})
    assert export.status_code == 200 and export.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["email"], r["last_name"]) for r in rows] == [("ann@imp.test", "Lee"), ("fay@imp.test", "Updated")]


def test_import_refuses_unknown_columns_and_bad_policy(api):
    assert "nope" in str(assert_problem(api.post("contacts/imports", data=b"last_name,nope\nA,B\n",
                                                 headers={"Content-Type": "text/csv"}), 422))
    assert_problem(api.post("contacts/imports?policy=maybe", data=b"last_name\nA\n",
                            headers={"Content-Type": "text/csv"}), 422)


def test_mosaic_import_command(stack, api, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("last_name,email\n" + "".join(f"Cli{i},cli{i}@cli.test\n" for i in range(50)) + "Bad,not-an-email\n")
    token = api.http.headers["Authorization"].split(" ", 1)[1]
    done = subprocess.run([MOSAIC, "import", str(path), "--object", "contacts", "--url", stack.url,
                           "--token", token, "--errors-out", str(tmp_path / "errors.csv")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "50" in done.stdout
    assert "not-an-email" in (tmp_path / "errors.csv").read_text()
    assert len(api.get("contacts", params={"filter": 'email endswith "@cli.test"', "limit": 100}).json()["items"]) == 50
