"""The thin gateway the benchmarks measure as their ceiling: each route is one RPC through the pool
it is given, its answer returned as JSON. (Nothing is timed here.)"""
from __future__ import annotations

from bench.thin_gateway import make_app


class RecordingPool:
    """Stands in for ``mosaic.rpc.RpcPool``: records each call and answers with its arguments."""

    def __init__(self):
        self.calls = []

    def call(self, service, method, ctx, *args):
        self.calls.append((service, method, ctx, args))
        return {"service": service, "args": list(args)}


def test_ping_is_one_rpc_to_the_ping_service():
    pool = RecordingPool()
    resp = make_app(pool).test_client().get("/ping")
    assert resp.status_code == 200 and resp.get_json() == {"service": "bench_ping", "args": []}
    assert pool.calls == [("bench_ping", "ping", None, ())]


def test_insert_passes_the_json_body_to_the_insert_service_and_answers_201():
    pool = RecordingPool()
    resp = make_app(pool).test_client().post("/insert", json={"first_name": "Ada", "region": "r1"})
    assert resp.status_code == 201
    assert pool.calls == [("bench_insert", "insert", None, ({"first_name": "Ada", "region": "r1"},))]
