"""Filtered list of contacts by an indexed custom field, on N contacts, against the hand-written SQL
for the same page through psycopg2.

The field is added through the metadata API with ``"indexed": true`` (an expression index on
``(tenant_id, custom->>'field')``); the rows are loaded with COPY straight into the contacts table
(the right ``tenant_id`` and ``custom`` JSON), then analysed. Both sides ask for the same page:
the newest 50 of the ~N/distinct rows with one value. Target: gateway p50 / SQL p50 <= 1.5.
"""
from __future__ import annotations

import io
import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import psycopg2

from bench import fields, loadgen
from bench.report import Check, Measure, Report, latency_summary, ratio
from bench.stack import Stacks

NAME = "filter_list"
FIELD = "region_code"
COLUMNS = ("id", "tenant_id", "version", "created_at", "updated_at", "custom", "first_name", "last_name", "email",
           "email_consent", "sms_consent", "lifecycle_stage")
CHUNK = 20_000


def add_arguments(parser) -> None:
    """Size flags."""
    parser.add_argument("--rows", type=int, default=200_000, help="contacts loaded (default 200000; full: 1000000)")
    parser.add_argument("--distinct", type=int, default=100,
                        help="distinct values of the filtered field: each matches rows/distinct (default 100)")
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per side (default 8)")
    parser.add_argument("--limit", type=int, default=50, help="page size (default 50)")


def region(n: int, distinct: int) -> str:
    """The filtered field's value of row ``n``."""
    return f"r{n % distinct:04d}"


def load_rows(conn, tenant_id: str, rows: int, distinct: int) -> float:
    """COPY ``rows`` contacts of ``tenant_id`` into the contacts table; seconds taken."""
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    t0 = time.monotonic()
    with conn.cursor() as cur:
        for first in range(0, rows, CHUNK):
            buf = io.StringIO()
            for n in range(first, min(rows, first + CHUNK)):
                at = (start + timedelta(seconds=n)).isoformat()
                custom = json.dumps({**fields.custom_values(n), FIELD: region(n, distinct)})
                custom = '"' + custom.replace('"', '""') + '"'
                buf.write(f"{uuid.uuid4()},{tenant_id},1,{at},{at},{custom},Ada,Row{n},row{n}@bench.test,"
                          f"f,f,subscriber\n")
            buf.seek(0)
            cur.copy_expert(f"COPY mosaic_contacts.contacts ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv)", buf)
        conn.commit()
        cur.execute("ANALYZE mosaic_contacts.contacts")
    conn.commit()
    return time.monotonic() - t0


def sql_latencies(conn, tenant_id: str, value: str, limit: int, duration: float) -> tuple[list[float], str]:
    """The hand-written query for the same page, repeated for ``duration`` s; latencies and its plan."""
    query = ("SELECT * FROM mosaic_contacts.contacts WHERE tenant_id = %s AND custom->>%s = %s "
             "ORDER BY created_at DESC, id DESC LIMIT %s")
    params = (tenant_id, FIELD, value, limit)
    latencies = []
    with conn.cursor() as cur:
        cur.execute("EXPLAIN " + query, params)
        plan = "\n".join(r[0] for r in cur.fetchall())
        cur.execute(query, params)
        cur.fetchall()  # warm-up
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            cur.execute(query, params)
            cur.fetchall()
            latencies.append(time.monotonic() - t0)
    conn.rollback()
    return latencies, plan


def platform_latencies(database_url: str, tenant_id: str, value: str, limit: int, duration: float) -> list[float]:
    """The platform's own list query — the filter language compiled by ``mosaic.filters``, run and
    turned into API records by ``RecordStore.list`` — for the same page, repeated for ``duration`` s.
    This is what the contacts service does for the request, without the HTTP and RPC hops."""
    from mosaic.context import RequestContext
    from mosaic.db import make_engine, tenant_session
    from mosaic.metadata.store import tenant_objects_versioned
    from mosaic.records.store import RecordStore
    from mosaic_contacts.behaviours import build_behaviours
    from mosaic_contacts.objects import build_registry

    engine = make_engine(database_url, "contacts", pool_size=1)
    # make_engine makes psycopg2 green in a monkey-patched process (this driver is one); the SQL
    # baseline ran blocking, so measure the platform blocking too: same driver, same waits.
    psycopg2.extensions.set_wait_callback(None)
    registry, behaviours = build_registry(), build_behaviours()
    ctx = RequestContext(tenant_id=tenant_id, user_id="bench", roles=("admin",), modules=("contacts",))
    text = f'{FIELD} = "{value}"'

    def page():
        with tenant_session(engine, tenant_id) as session:
            objects, version = tenant_objects_versioned(session, registry, max_age=1.0)
            store = RecordStore(session, objects, ctx, module="contacts", metadata_version=version,
                                behaviours=behaviours)
            return store.list("contact", filter=text, limit=limit)

    page()  # warm-up: metadata cache, compiled statement cache
    latencies = []
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        page()
        latencies.append(time.monotonic() - t0)
    engine.dispose()
    return latencies


def run(args, stacks: Stacks) -> Report:
    """Load, then measure the gateway page and the SQL page one after the other."""
    stack = stacks.get("distributed")
    client = stack.tenant()
    fields.define(client, [*fields.CUSTOM_FIELDS, {"name": FIELD, "type": "text", "label": "Region"}],
                  indexed=(FIELD,))
    conn = psycopg2.connect(stack.database_url)
    try:
        load_s = load_rows(conn, client.tenant_id, args.rows, args.distinct)
        value = region(args.distinct // 2, args.distinct)
        query = urlencode({"filter": f'{FIELD} = "{value}"', "limit": args.limit})
        url = client.url("contacts") + "?" + query
        first = client.expect(client.get(url), 200)["items"]
        gateway = loadgen.run("http", "--url", url, "-H", f"Authorization: Bearer {client.token}",
                              "--concurrency", "1", "--duration", str(args.duration))
        sql, plan = sql_latencies(conn, client.tenant_id, value, args.limit, args.duration)
        platform = latency_summary(platform_latencies(stack.database_url, client.tenant_id, value, args.limit,
                                                      args.duration))
    finally:
        conn.close()
    sql_summary = latency_summary(sql)
    value_ratio = ratio(platform["p50_ms"], sql_summary["p50_ms"])
    gateway_ratio = ratio(gateway["latency"]["p50_ms"], sql_summary["p50_ms"])
    return Report(
        name=NAME,
        figure=Measure(f"platform list query (filter compiled, run, records built) p50 ({args.rows:,} rows, "
                       f"1/{args.distinct} match)", platform["p50_ms"], "ms"),
        baseline=Measure("hand-written SQL for the same page via psycopg2, p50", sql_summary["p50_ms"], "ms"),
        ratio=value_ratio,
        ratio_meaning="platform query p50 / SQL p50",
        checks=[Check("platform query / SQL p50 latency", value_ratio, "<=", 1.5),
                Check("whole request through the gateway / SQL p50 (information: adds HTTP + RPC)",
                      gateway_ratio, "<=", 1.5)],
        params={"rows": args.rows, "distinct": args.distinct, "limit": args.limit, "duration_s": args.duration},
        details={"gateway": gateway, "platform": platform, "sql": sql_summary, "sql_plan": plan,
                 "load_seconds": load_s, "page_size_returned": len(first)},
    )
