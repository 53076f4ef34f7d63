"""``mosaic``: run the product, one of its processes, migrations, and operator chores.

    mosaic run                      the embedded mode: everything in one process (make run)
    mosaic serve gateway|SERVICE    one process of the distributed mode
    mosaic relay SERVICE            the outbox relay of a service
    mosaic migrate [component]      alembic migrations (all components by default)

Services (and the gateway) are the installed packages that declare themselves through the
``mosaic.services``/``mosaic.gateway`` entry points (``mosaic.services``).
    mosaic tenant create ...        create a tenant and its first admin
    mosaic import FILE ...          import a CSV through the API, with a progress bar
    mosaic plugin new NAME          create a plugin package (plugins/NAME) from the template
"""
from __future__ import annotations

import argparse
import sys

from mosaic import services

LONG_RUNNING = {"run", "serve", "relay"}


def build_parser() -> argparse.ArgumentParser:
    """The command line (also read by the compose and chart tests)."""
    parser = argparse.ArgumentParser(prog="mosaic", description="Mosaic CRM")
    sub = parser.add_subparsers(dest="command", required=True)
    installed = services.running()  # modules and platform services (the hub)
    gateway = services.gateway().name

    sub.add_parser("run", help="embedded mode: gateway and every service in one process")

    serve = sub.add_parser("serve", help="run one process of the distributed mode")
    serve.add_argument("process", choices=(gateway, *installed))

    relay = sub.add_parser("relay", help="relay a service's outbox to the broker")
    relay.add_argument("service", choices=services.relayed())

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("component", nargs="?", choices=(gateway, *installed))

    tenant = sub.add_parser("tenant", help="tenant administration")
    tsub = tenant.add_subparsers(dest="tenant_command", required=True)
    create = tsub.add_parser("create", help="create a tenant and its first admin")
    create.add_argument("slug")
    create.add_argument("--name", required=True)
    create.add_argument("--admin-email", required=True)
    create.add_argument("--admin-password", help="default: generated and printed once")
    create.add_argument("--modules", default=None,
                        help="comma-separated modules to enable (default: every installed service)")

    imp = sub.add_parser("import", help="import a CSV file through the gateway API")
    imp.add_argument("file")
    imp.add_argument("--object", required=True, help="URL path of the object (contacts, accounts, ...)")
    imp.add_argument("--policy", default="skip", choices=("skip", "update", "create"),
                     help="what to do with a row that duplicates an existing record")
    imp.add_argument("--url", default=None, help="gateway base URL (default http://MOSAIC_HOST:MOSAIC_PORT)")
    imp.add_argument("--token", default=None, help="bearer token or API key (default: $MOSAIC_TOKEN)")
    imp.add_argument("--errors-out", default=None, help="write rejected rows to this CSV file")

    for spec in services.installed().values():  # services' own operator commands
        if spec.commands:
            own = sub.add_parser(spec.name, help=f"{spec.label or spec.name}: "
                                 + ", ".join(spec.commands) + f" (mosaic {spec.name} <command> --help)")
            osub = own.add_subparsers(dest="service_command", required=True)
            for name in spec.commands:
                # its own arguments are the command's to parse (``_main`` hands them over)
                osub.add_parser(name, add_help=False, help=f"see mosaic {spec.name} {name} --help")

    plugin = sub.add_parser("plugin", help="plugin development")
    psub = plugin.add_subparsers(dest="plugin_command", required=True)
    new = psub.add_parser("new", help="create a plugin package from the template (docs/plugins.md)")
    new.add_argument("name", help="the plugin's name and namespace: snake_case, no '__'")
    new.add_argument("--dir", default="plugins", help="where to create it (default: plugins)")
    new.add_argument("--label", default=None, help="human-readable name (default: from the name)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mosaic`` command; typed errors become one clear line and exit 1."""
    from mosaic.errors import MosaicError

    try:
        return _main(argv)
    except MosaicError as err:
        fields = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in err.errors.items())
        print(f"error: {err.detail}" + (f" ({fields})" if fields else ""), file=sys.stderr)
        return 1


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "service_command", None):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command in LONG_RUNNING:
        # Before anything opens a socket or imports kombu: every blocking call must be green.
        import eventlet

        eventlet.monkey_patch()
        from mosaic.db import green

        green.install()  # before any PostgreSQL connection: see mosaic.db.green
    if args.command == "plugin":  # a developer's tool: needs no settings, database or broker
        from mosaic.plugins.scaffold import new_command

        return new_command(args.name, args.dir, label=args.label)
    from mosaic.config import load_settings

    settings = load_settings()
    if args.command == "run":
        from mosaic.runtime import run_embedded

        run_embedded(settings.with_(mode="embedded", amqp_uri="memory://"))
        return 0
    if args.command == "serve":
        return _serve(settings, args.process)
    if args.command == "relay":
        return _relay(settings, args.service)
    if args.command == "migrate":
        from mosaic.db.migrate import migrate, migrate_all

        migrate(settings, args.component) if args.component else migrate_all(settings)
        return 0
    if args.command == "tenant":
        return _tenant_create(settings, args)
    if getattr(args, "service_command", None):
        target = services.get(args.command).commands[args.service_command]
        return services.load_object(target)(settings, extra)
    if args.command == "import":
        from mosaic.import_client import run_import

        return run_import(settings, args)
    return 2


def _serve(settings, process: str) -> int:
    from mosaic import runtime

    settings = runtime.prepare(settings, process)
    if process == services.gateway().name:
        app, _rpc = runtime.gateway_app(settings)
        runtime.serve_wsgi(app, settings.host, settings.port)
        return 0
    from nameko.runners import ServiceRunner

    runner = ServiceRunner(runtime.nameko_config(settings))
    runner.add_service(runtime.service_class(process))
    runner.start()
    runtime._stop_on_signals()
    try:
        runner.wait()
    except (KeyboardInterrupt, SystemExit):
        runner.stop()
    return 0


def _relay(settings, service: str) -> int:
    from mosaic import runtime

    settings = runtime.prepare(settings, f"relay-{service}")
    relay, thread = runtime.start_relay(settings, service)
    runtime._stop_on_signals()
    try:
        thread.wait()
    except (KeyboardInterrupt, SystemExit):
        relay.stop()
    return 0


def _tenant_create(settings, args) -> int:
    command = services.gateway().tenant_command
    if not command:
        print("error: the installed gateway has no tenant command", file=sys.stderr)
        return 2
    return services.load_object(command)(settings, args)


if __name__ == "__main__":
    sys.exit(main())
