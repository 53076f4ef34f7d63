"""Import N contacts with custom fields through the import API, against a raw ``COPY`` of the same
CSV file into a plain table.

The import path: ``POST /api/v1/contacts/imports`` (the CSV as a ``text/csv`` body), the gateway
streams it to the contacts service in chunks, the service validates every row against the tenant's
metadata, fills duplicate-detection keys, and writes records, audit entries and outbox events;
the benchmark polls ``GET /api/v1/imports/<id>`` until the job ends. Timed from the first byte
uploaded to the job's end. The baseline copies the same file into a table of text columns with
no validation, index or event. Ratio: COPY seconds / import seconds (= import rows/s over COPY
rows/s). Target >= 0.3. Full figure: ``--rows 1000000``.
"""
from __future__ import annotations

import csv
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2

from bench import fields
from bench.report import Check, Measure, Report, ratio
from bench.stack import Stacks

NAME = "import_contacts"
CORE = ("first_name", "last_name", "email", "phone", "company_name")
TERMINAL = {"finished", "done", "completed", "succeeded", "failed", "error", "cancelled"}


def add_arguments(parser) -> None:
    """Size flags."""
    parser.add_argument("--rows", type=int, default=200_000, help="contacts imported (default 200000; full: 1000000)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up on the job after this many seconds")


def write_csv(path: Path, rows: int) -> list[str]:
    """A CSV of ``rows`` distinct contacts with the five custom fields; returns its header."""
    header = [*CORE, *(f["name"] for f in fields.CUSTOM_FIELDS)]
    run_id = uuid.uuid4().hex[:6]
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        for n in range(rows):
            custom = fields.custom_values(n)
            out.writerow([f"Ada{n % 997}", f"Import{n}", f"i{run_id}-{n}@bench.test", f"+1555{n:07d}",
                          f"Company {n % 5000}", *("true" if v is True else "false" if v is False else v
                                                  for v in custom.values())])
    return header


def copy_seconds(database_url: str, path: Path, header: list[str]) -> float:
    """Raw ``COPY`` of ``path`` into a fresh table of text columns; seconds, commit included."""
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE SCHEMA IF NOT EXISTS bench")
            cur.execute("DROP TABLE IF EXISTS bench.plain_import")
            cur.execute("CREATE TABLE bench.plain_import (" + ", ".join(f'"{c}" text' for c in header) + ")")
            conn.commit()
            t0 = time.monotonic()
            with path.open() as fh:
                cur.copy_expert("COPY bench.plain_import FROM STDIN WITH (FORMAT csv, HEADER true)", fh)
            conn.commit()
            elapsed = time.monotonic() - t0
            cur.execute("DROP TABLE bench.plain_import")
        conn.commit()
        return elapsed
    finally:
        conn.close()


def import_seconds(client, path: Path, timeout: float) -> tuple[float, float, dict]:
    """Upload ``path`` to the import API and poll until the job ends; (seconds in all, seconds of
    the upload alone, final job)."""
    t0 = time.monotonic()
    with path.open("rb") as fh:
        job = client.expect(client.http.post(client.url("contacts/imports"), data=fh, timeout=timeout,
                                             params={"policy": "create"}, headers={"Content-Type": "text/csv"}), 202)
    upload_s = time.monotonic() - t0
    deadline = t0 + timeout
    while job.get("status") not in TERMINAL:
        if time.monotonic() > deadline:
            raise RuntimeError(f"import job still {job.get('status')} after {timeout}s: {job}")
        time.sleep(0.25)
        job = client.expect(client.get(f"imports/{job['id']}"), 200)
    return time.monotonic() - t0, upload_s, job


def run(args, stacks: Stacks) -> Report:
    """Write the CSV once, import it, COPY it, compare."""
    stack = stacks.get("distributed")
    client = stack.tenant()
    fields.define(client)
    with tempfile.TemporaryDirectory(prefix="mosaic-bench-import-") as tmp:
        path = Path(tmp) / "contacts.csv"
        header = write_csv(path, args.rows)
        size_mb = path.stat().st_size / 2**20
        imported_s, upload_s, job = import_seconds(client, path, args.timeout)
        copy_s = copy_seconds(stack.database_url, path, header)
    if job.get("status") in ("failed", "error", "cancelled") or job.get("created") != args.rows:
        raise RuntimeError(f"the import did not create every row: {job}")
    value = ratio(copy_s, imported_s)
    return Report(
        name=NAME,
        figure=Measure(f"import API, {args.rows:,} contacts with 5 custom fields ({size_mb:.0f} MiB CSV)",
                       args.rows / imported_s, "rows/s"),
        baseline=Measure("raw COPY of the same CSV into a plain table", args.rows / copy_s, "rows/s"),
        ratio=value,
        ratio_meaning="import rows/s / COPY rows/s (= COPY seconds / import seconds)",
        checks=[Check("import / COPY throughput", value, ">=", 0.3)],
        params={"rows": args.rows},
        details={"import_seconds": imported_s, "upload_seconds": upload_s, "copy_seconds": copy_s, "csv_mib": size_mb, "job": job},
    )
