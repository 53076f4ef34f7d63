"""``python -m bench [name] [flags]``: run one benchmark, or all of them in sequence.

    python -m bench                       every benchmark at its default (modest) size
    python -m bench import --rows 1000000 one benchmark, at the full size
    python -m bench --list                what there is
"""
from __future__ import annotations

import eventlet

# The RPC clients used here (mosaic.rpc.RpcPool) need green sockets. psycopg2 stays blocking: this
# process only drives sequential set-up and baseline SQL, and COPY refuses a wait callback.
eventlet.monkey_patch(psycopg=False)

import argparse  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402

from bench.report import publish  # noqa: E402
from bench.stack import Stacks  # noqa: E402

#: run order of ``python -m bench``: memory first, while the processes are fresh
BENCHMARKS = {
    "rss": "bench.rss",
    "green": "bench.green",
    "get": "bench.get_contact",
    "create": "bench.create_contact",
    "once": "bench.write_once",
    "owner": "bench.owner_check",
    "rules": "bench.create_rules",
    "filter": "bench.filter_list",
    "inbox": "bench.inbox",
    "import": "bench.import_contacts",
    "relay": "bench.relay",
    "hub_webhooks": "bench.hub_webhooks",
}


def _module(name: str):
    return importlib.import_module(BENCHMARKS[name])


def build_parser() -> argparse.ArgumentParser:
    """One sub-command per benchmark, each with its own size flags; none means all."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    sub = parser.add_subparsers(dest="name")
    for name in BENCHMARKS:
        module = _module(name)
        p = sub.add_parser(name, help=module.__doc__.strip().splitlines()[0])
        module.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks; exit 1 if one failed to run (a missed target is a figure, not a failure)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        for name in BENCHMARKS:
            print(f"{name:8} {_module(name).__doc__.strip().splitlines()[0]}")
        return 0
    if args.name:
        plan = [(args.name, args)]
    else:  # every benchmark with its defaults
        plan = [(name, parser.parse_args([name])) for name in BENCHMARKS]
    stacks = Stacks()
    failed = []
    try:
        for name, bench_args in plan:
            print(f"\n-- running {name} ...", flush=True)
            try:
                publish(_module(name).run(bench_args, stacks))
            except Exception:
                failed.append(name)
                traceback.print_exc()
    finally:
        stacks.stop(keep_logs=bool(failed))
    if failed:
        print(f"\nbenchmarks that could not run: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
