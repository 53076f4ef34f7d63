"""Gateway GET of one contact at N concurrent clients, against a bare nameko RPC ping at the same
concurrency.

The ping is a trivial nameko service in a process of its own, called through the platform's pooled
client (``mosaic.rpc.RpcPool``, the one the gateway uses) from a load generator process. The
gateway request adds HTTP, token checks, the module gate, the object directory, one RPC to the
contacts service, its database read and JSON. Targets: gateway throughput / ping throughput
>= 0.7, and gateway p99 <= 3 x p50.
"""
from __future__ import annotations

from bench import loadgen
from bench.report import Check, Measure, Report, ratio
from bench.stack import Stacks, cpu_per_request, start_baseline, start_thin_gateway

NAME = "get_contact"


def add_arguments(parser) -> None:
    """Size flags."""
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (default 32)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per side (default 10)")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                        help="HTTP load generator: wrk if installed (auto), or Python green threads")


def http_get(url: str, token: str, concurrency: int, duration: float, client: str) -> dict:
    """GET ``url`` at ``concurrency`` for ``duration`` s with wrk or the Python generator."""
    if client == "wrk" or (client == "auto" and loadgen.wrk_available()):
        return loadgen.wrk_get(url, {"Authorization": f"Bearer {token}"}, concurrency, duration)
    return loadgen.run("http", "--url", url, "-H", f"Authorization: Bearer {token}",
                       "--concurrency", str(concurrency), "--duration", str(duration))


def rpc_ping(amqp_uri: str, concurrency: int, duration: float) -> dict:
    """The bare RPC baseline: ``bench_ping.ping()`` at ``concurrency`` for ``duration`` s."""
    return loadgen.run("rpc", "--amqp", amqp_uri, "--service", "bench_ping", "--method", "ping",
                       "--concurrency", str(concurrency), "--duration", str(duration))


def run(args, stacks: Stacks) -> Report:
    """Measure both sides in this run and compare them."""
    stack = stacks.get("distributed")
    client = stack.tenant()
    contact = client.expect(client.post("contacts", {"first_name": "Ada", "last_name": "Bench",
                                                     "email": "ada@bench.test"}), 201)
    ping_pid = start_baseline(stack, "ping")
    # CPU per request of each process says where a request's cost goes (warm-up included, so an
    # upper bound); on 2 shared cores it matters more than wall time.
    ping, ping_cpu = cpu_per_request({"ping service": ping_pid},
                                     lambda: rpc_ping(stack.amqp_uri, args.concurrency, args.duration),
                                     lambda r: r["requests"])
    pids = {k: v for k, v in stack.pids().items() if k in ("gateway", "contacts", "relay-contacts")}
    gateway, gateway_cpu = cpu_per_request(
        pids, lambda: http_get(client.url(f"contacts/{contact['id']}"), client.token, args.concurrency,
                               args.duration, args.client),
        lambda r: r["requests"])
    # The ceiling: the thinnest gateway (bench.thin_gateway: HTTP, Flask, one RPC to the bare ping
    # service) measured the same way. No product can score above it against this baseline.
    thin_url, thin_pid = start_thin_gateway(stack)
    thin, thin_cpu = cpu_per_request({"thin gateway": thin_pid, "ping service": ping_pid},
                                     lambda: http_get(f"{thin_url}/ping", "", args.concurrency, args.duration,
                                                      args.client),
                                     lambda r: r["requests"])
    spread = ratio(gateway["latency"]["p99_ms"], gateway["latency"]["p50_ms"])
    throughput_ratio = ratio(gateway["throughput_rps"], ping["throughput_rps"])
    ceiling = ratio(thin["throughput_rps"], ping["throughput_rps"])
    return Report(
        name=NAME,
        figure=Measure(f"gateway GET /contacts/<id> at {args.concurrency} clients ({gateway['client']})",
                       gateway["throughput_rps"], "req/s"),
        baseline=Measure(f"bare nameko RPC ping at {args.concurrency} clients", ping["throughput_rps"], "req/s"),
        ratio=throughput_ratio,
        ratio_meaning="gateway throughput / ping throughput",
        checks=[Check("gateway / ping throughput", throughput_ratio, ">=", 0.7),
                Check("gateway p99 / p50 latency", spread, "<=", 3.0)],
        params={"concurrency": args.concurrency, "duration_s": args.duration, "client": gateway["client"]},
        details={"gateway": gateway, "ping": ping, "cpu_ms_per_request": {**gateway_cpu, **ping_cpu},
                 "thin_gateway": thin, "thin_cpu_ms_per_request": thin_cpu, "ceiling": ceiling},
        notes=[(f"ceiling: the thinnest gateway (HTTP + Flask + one RPC to the ping service) "
                f"{thin['throughput_rps']:,.0f} req/s, {ceiling:.3g} of the ping; the product is "
                f"{ratio(gateway['throughput_rps'], thin['throughput_rps']):.3g} of that ceiling"),
               "CPU ms per request: " + ", ".join(f"{k} {v:.2f}" for k, v in {**gateway_cpu, **ping_cpu}.items())
               + "; thin: " + ", ".join(f"{k} {v:.2f}" for k, v in thin_cpu.items())],
    )
