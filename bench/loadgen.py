"""Load generators, each run in a process of its own (never inside a server under test), bounded in
time and in request count, and only ever aimed at 127.0.0.1.

    python -m bench.loadgen http --url URL [--method POST --body JSON] [-H 'Name: value'] ...
    python -m bench.loadgen rpc --amqp URI --service S --method M [--args JSON] ...

Both keep ``--concurrency`` requests in flight from one process with eventlet green threads (one
``requests.Session`` per green thread; one pooled nameko proxy per green thread), discard a short
warm-up, and print one JSON line: count, errors, elapsed, throughput and latency percentiles.
A ``@N@`` in an HTTP body is replaced by a number unique to the request (distinct emails).
:func:`wrk_get` drives GETs with ``wrk`` instead, when it is installed.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

from bench.report import latency_summary

MAX_DURATION = 120.0  # seconds: a typo in a flag must not turn into an hour of load
MAX_REQUESTS = 1_000_000


def _local_only(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"load generators only target 127.0.0.1, not {host!r}")


def _drive(one, concurrency: int, duration: float, warmup: float, max_requests: int) -> dict:
    """Run ``one(worker_index, n) -> bool ok`` from ``concurrency`` green threads for ``warmup`` +
    ``duration`` seconds (or ``max_requests`` measured requests); latencies of the warm-up are dropped."""
    import eventlet

    duration, max_requests = min(duration, MAX_DURATION), min(max_requests, MAX_REQUESTS)
    counter = itertools.count()
    latencies: list[float] = []
    errors: list[str] = []
    start = time.monotonic()
    measure_from = start + warmup
    deadline = measure_from + duration

    def worker(index: int) -> None:
        while True:
            now = time.monotonic()
            if now >= deadline or len(latencies) + len(errors) >= max_requests:
                return
            n = next(counter)
            t0 = time.monotonic()
            try:
                outcome = one(index, n)
            except Exception as exc:  # a failed request is a figure, not a crash
                outcome = f"{type(exc).__name__}: {exc}"
            t1 = time.monotonic()
            if t0 < measure_from:
                continue
            if outcome is True:
                latencies.append(t1 - t0)
            else:
                errors.append(str(outcome)[:300])

    pool = eventlet.GreenPool(concurrency)
    for i in range(concurrency):
        pool.spawn(worker, i)
    pool.waitall()
    elapsed = max(1e-9, min(time.monotonic(), deadline) - measure_from)
    return {"concurrency": concurrency, "requests": len(latencies), "errors": len(errors),
            "error_samples": errors[:5], "elapsed_s": elapsed, "throughput_rps": len(latencies) / elapsed,
            "latency": latency_summary(latencies), "client": "python"}


def http_load(args) -> dict:
    """Keep ``args.concurrency`` HTTP requests in flight against ``args.url``."""
    import requests

    _local_only(args.url)
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    if args.body is not None:
        headers.setdefault("Content-Type", "application/json")
    sessions = [requests.Session() for _ in range(args.concurrency)]
    expect = set(args.expect)

    def one(index: int, n: int):
        body = args.body.replace("@N@", str(n)) if args.body is not None else None
        resp = sessions[index].request(args.method, args.url, data=body, headers=headers, timeout=30)
        resp.content  # read the whole body: that is part of the request's cost
        return True if resp.status_code in expect else f"HTTP {resp.status_code}: {resp.text[:200]}"

    return _drive(one, args.concurrency, args.duration, args.warmup, args.max_requests)


def rpc_load(args) -> dict:
    """Keep ``args.concurrency`` nameko RPCs in flight, through the platform's pooled client."""
    from mosaic.rpc import RpcPool

    _local_only(args.amqp.replace("amqp://", "http://", 1))
    pool = RpcPool(args.amqp, size=args.concurrency, timeout=30)
    call_args = json.loads(args.args)

    def one(_index: int, _n: int) -> bool:
        pool.call(args.service, args.method, None, *call_args)  # an error raises and is counted
        return True

    try:
        return _drive(one, args.concurrency, args.duration, args.warmup, args.max_requests)
    finally:
        pool.close()


def run(kind: str, *flags: str, timeout: float = MAX_DURATION + 60) -> dict:
    """Run ``python -m bench.loadgen kind flags...`` in a new process; its JSON result."""
    from bench.stack import ROOT

    done = subprocess.run([sys.executable, "-m", "bench.loadgen", kind, *flags], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- wrk -------------------------------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk_available() -> bool:
    """Whether ``wrk`` is on PATH (``apt-get install -y wrk``)."""
    return shutil.which("wrk") is not None


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str, duration: float) -> dict:
    """The figures of ``wrk --latency`` output, in the same shape as the Python generators'."""
    pct = {m.group(1): _ms(m.group(2)) for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)", output, re.M)}
    total = int(re.search(r"(\d+) requests in", output).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = (int(bad.group(1)) if bad else 0) + (sum(int(g) for g in sock.groups()) if sock else 0)
    mean = re.search(r"Latency\s+(\S+)", output)
    return {"requests": total - errors, "errors": errors, "error_samples": [], "elapsed_s": duration,
            "throughput_rps": rps * (total - errors) / total if total else 0.0,
            "latency": {"count": total, "mean_ms": _ms(mean.group(1)) if mean else float("nan"),
                        "p50_ms": pct.get("50", float("nan")), "p90_ms": pct.get("90", float("nan")),
                        "p99_ms": pct.get("99", float("nan")), "max_ms": float("nan")},
            "client": "wrk"}


def wrk_get(url: str, headers: dict, concurrency: int, duration: float, threads: int = 1) -> dict:
    """GET ``url`` with ``wrk`` (``threads`` OS threads, ``concurrency`` connections) for ``duration`` s."""
    _local_only(url)
    duration = min(duration, MAX_DURATION)
    argv = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{int(max(1, duration))}s", "--latency", "--timeout", "30s"]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    done = subprocess.run([*argv, url], capture_output=True, text=True, timeout=duration + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr.strip()}")
    result = parse_wrk(done.stdout, duration)
    result["concurrency"] = concurrency
    return result


#: wrk's request for a body template: ``@N@`` becomes ``MOSAIC_WRK_TAG`` + a per-request number
_WRK_BODY_SCRIPT = """
local template = os.getenv("MOSAIC_WRK_BODY")
local tag = os.getenv("MOSAIC_WRK_TAG") or ""
local method = os.getenv("MOSAIC_WRK_METHOD")
local n = 0
request = function()
  n = n + 1
  local body = template:gsub("@N@", tag .. tostring(n))
  return wrk.format(method, nil, nil, body)
end
"""


def wrk_send(method: str, url: str, headers: dict, body: str, concurrency: int, duration: float,
             tag: str = "") -> dict:
    """Send ``method`` requests with a JSON ``body`` to ``url`` with ``wrk`` (one thread,
    ``concurrency`` connections) for ``duration`` s; ``@N@`` in the body becomes ``tag`` and a
    number unique to the run, so every create is a new record. One thread: one Lua state, one
    counter."""
    _local_only(url)
    duration = min(duration, MAX_DURATION)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_BODY_SCRIPT)
    try:
        argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{int(max(1, duration))}s", "--latency", "--timeout", "30s",
                "-s", script.name, "-H", "Content-Type: application/json"]
        for k, v in headers.items():
            argv += ["-H", f"{k}: {v}"]
        wrk_env = {**os.environ, "MOSAIC_WRK_BODY": body, "MOSAIC_WRK_TAG": tag,
                   "MOSAIC_WRK_METHOD": method}
        done = subprocess.run([*argv, url], capture_output=True, text=True, timeout=duration + 60, env=wrk_env)
    finally:
        os.unlink(script.name)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr.strip()}")
    result = parse_wrk(done.stdout, duration)
    result["concurrency"] = concurrency
    return result


def build_parser() -> argparse.ArgumentParser:
    """Flags of the load generator process."""
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    sub = parser.add_subparsers(dest="kind", required=True)
    for name in ("http", "rpc"):
        p = sub.add_parser(name)
        p.add_argument("--concurrency", type=int, default=32)
        p.add_argument("--duration", type=float, default=10.0, help="measured seconds (after the warm-up)")
        p.add_argument("--warmup", type=float, default=1.0)
        p.add_argument("--max-requests", type=int, default=MAX_REQUESTS)
    http = sub.choices["http"]
    http.add_argument("--url", required=True)
    http.add_argument("--method", default="GET")
    http.add_argument("--body", default=None, help="JSON body; @N@ becomes a per-request number")
    http.add_argument("-H", "--header", action="append", default=[])
    http.add_argument("--expect", type=int, action="append", default=None, help="status counted as success")
    rpc = sub.choices["rpc"]
    rpc.add_argument("--amqp", required=True)
    rpc.add_argument("--service", required=True)
    rpc.add_argument("--method", required=True)
    rpc.add_argument("--args", default="[]", help="JSON list of positional arguments")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the load generator process."""
    import eventlet

    eventlet.monkey_patch()
    args = build_parser().parse_args(argv)
    if args.kind == "http":
        args.expect = args.expect or [200, 201]
        result = http_load(args)
    else:
        result = rpc_load(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
