"""A deep page of the hub's notification inbox (keyset-paged), on N notifications, against the
hand-written SQL for the same page and against the inbox's first page.

N notifications of one tenant are loaded with COPY into the hub's table, a quarter to the user,
a quarter to one of their roles, the rest to others; then the user's inbox page that starts 90 %
deep (the cursor of the row before it) is asked of ``mosaic_hub.notifications.list_for`` — what
the hub does for ``GET /api/v1/notifications?cursor=…``, without the HTTP and RPC hops — and of
psycopg2 with the same SQL written by hand. Targets: platform p50 / SQL p50 <= 1.5, and the deep
page's p50 / the first page's <= 1.5 (a keyset costs the same at any depth; OFFSET would not).
"""
from __future__ import annotations

import io
import time
import uuid
from datetime import datetime, timedelta, timezone

import psycopg2

from bench.report import Check, Measure, Report, latency_summary, ratio
from bench.stack import Stacks

NAME = "inbox"
USER, ROLE = "bench-user", "sales"
CHUNK = 20_000


def add_arguments(parser) -> None:
    """Size flags."""
    parser.add_argument("--rows", type=int, default=200_000, help="notifications loaded (default 200000)")
    parser.add_argument("--duration", type=float, default=6.0, help="measured seconds per side (default 6)")
    parser.add_argument("--limit", type=int, default=100, help="page size (default 100)")


def recipient(n: int) -> str:
    return ("user:" + USER, "role:" + ROLE, "user:someone-else", "role:agent")[n % 4]


def load_rows(conn, tenant_id: str, rows: int) -> float:
    """COPY ``rows`` notifications of ``tenant_id`` into the hub's table; seconds taken."""
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    t0 = time.monotonic()
    with conn.cursor() as cur:
        for first in range(0, rows, CHUNK):
            buf = io.StringIO()
            for n in range(first, min(rows, first + CHUNK)):
                at = (start + timedelta(seconds=n // 3)).isoformat()  # ties: the id orders them
                read = at if n % 5 == 0 else r"\N"
                buf.write(f"{uuid.uuid4()}\t{tenant_id}\t{recipient(n)}\tContact Row{n} is yours\tcontact\t"
                          f"c{n}\trule:welcome\tcontacts\t{at}\t{read}\n")
            buf.seek(0)
            cur.copy_expert("COPY mosaic_hub.hub_notifications (id, tenant_id, recipient, message, object, record_id, "
                            "source, service, created_at, read_at) FROM STDIN", buf)
        conn.commit()
        cur.execute("ANALYZE mosaic_hub.hub_notifications")
    conn.commit()
    return time.monotonic() - t0


#: the best hand-written query for the page: one backward index range per recipient, merged
_RANGE = ("(SELECT * FROM mosaic_hub.hub_notifications WHERE tenant_id = %s AND recipient = %s "
          "AND (created_at, id) < (%s, %s) ORDER BY created_at DESC, id DESC LIMIT %s)")
SQL = (f"SELECT * FROM ({_RANGE} UNION ALL {_RANGE}) AS inbox ORDER BY created_at DESC, id DESC LIMIT %s")


def deep_row(conn, tenant_id: str, rows: int) -> tuple[datetime, str]:
    """The (created_at, id) the deep page starts after: 90 % down the user's inbox."""
    with conn.cursor() as cur:
        cur.execute("SELECT created_at, id FROM mosaic_hub.hub_notifications WHERE tenant_id = %s "
                    "AND recipient IN (%s, %s) ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
                    (tenant_id, "user:" + USER, "role:" + ROLE, int(rows / 2 * 0.9)))
        at, key = cur.fetchone()
    conn.rollback()
    return at, key


def sql_latencies(conn, tenant_id: str, after: tuple[datetime, str], limit: int, duration: float) -> tuple[list, str]:
    params = (tenant_id, "user:" + USER, after[0], after[1], limit + 1,
              tenant_id, "role:" + ROLE, after[0], after[1], limit + 1, limit + 1)
    latencies = []
    with conn.cursor() as cur:
        cur.execute("EXPLAIN " + SQL, params)
        plan = "\n".join(r[0] for r in cur.fetchall())
        cur.execute(SQL, params)
        cur.fetchall()
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            cur.execute(SQL, params)
            cur.fetchall()
            latencies.append(time.monotonic() - t0)
    conn.rollback()
    return latencies, plan


def platform_latencies(database_url: str, tenant_id: str, cursor: str | None, limit: int,
                       duration: float) -> tuple[list[float], int]:
    """``list_for`` of the user's inbox page after ``cursor`` (the first page for None)."""
    from mosaic.db import make_engine, tenant_session
    from mosaic_hub.notifications import list_for

    engine = make_engine(database_url, "hub", pool_size=1)
    psycopg2.extensions.set_wait_callback(None)  # blocking, like the SQL side

    def page():
        with tenant_session(engine, tenant_id) as session:
            return list_for(session, USER, [ROLE], limit=limit, cursor=cursor)

    size = len(page()["items"])  # warm-up
    latencies = []
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        page()
        latencies.append(time.monotonic() - t0)
    engine.dispose()
    return latencies, size


def run(args, stacks: Stacks) -> Report:
    """Load, then measure the deep page (platform, SQL) and the first page (platform)."""
    from mosaic.records.paging import time_cursor

    stack = stacks.get("distributed")
    tenant_id = stack.tenant().tenant_id
    conn = psycopg2.connect(stack.database_url)
    try:
        load_s = load_rows(conn, tenant_id, args.rows)
        after = deep_row(conn, tenant_id, args.rows)
        sql, plan = sql_latencies(conn, tenant_id, after, args.limit, args.duration)
    finally:
        conn.close()
    deep, deep_size = platform_latencies(stack.database_url, tenant_id, time_cursor(*after), args.limit, args.duration)
    first, _ = platform_latencies(stack.database_url, tenant_id, None, args.limit, args.duration)
    sql_s, deep_s, first_s = latency_summary(sql), latency_summary(deep), latency_summary(first)
    value_ratio = ratio(deep_s["p50_ms"], sql_s["p50_ms"])
    depth_ratio = ratio(deep_s["p50_ms"], first_s["p50_ms"])
    return Report(
        name=NAME,
        figure=Measure(f"hub inbox page 90 % deep (list_for, {args.limit} of {args.rows // 2:,} visible) p50",
                       deep_s["p50_ms"], "ms"),
        baseline=Measure("hand-written SQL for the same page via psycopg2, p50", sql_s["p50_ms"], "ms"),
        ratio=value_ratio,
        ratio_meaning="platform deep page p50 / SQL p50",
        checks=[Check("platform / SQL p50 latency, deep page", value_ratio, "<=", 1.5),
                Check("deep page / first page p50 (keyset: no cost of depth)", depth_ratio, "<=", 1.5)],
        params={"rows": args.rows, "limit": args.limit, "duration_s": args.duration},
        details={"deep": deep_s, "first": first_s, "sql": sql_s, "sql_plan": plan, "load_seconds": load_s,
                 "page_size_returned": deep_size},
    )
