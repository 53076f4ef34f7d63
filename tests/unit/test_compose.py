"""docker-compose.yml, Dockerfile and .dockerignore, checked statically (no Docker engine here).

The checks tie the deployment files to the code they start: compose commands must parse with the
real ``mosaic`` CLI, the image must install the package pyproject describes and run its script.
"""
from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from mosaic import services as installed_services
from mosaic.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "gateway", "contacts", "relay", "hub")
INFRA_SERVICES = ("postgres", "rabbitmq", "redis", "jaeger")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of the Dockerfile, continuation lines joined."""
    logical, current = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    pairs = []
    for instruction in logical:
        keyword, _, args = instruction.partition(" ")
        pairs.append((keyword.upper(), args.strip()))
    return pairs


def command_of(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_compose_has_the_whole_stack(services):
    assert set(APP_SERVICES + INFRA_SERVICES) <= set(services)
    assert services["postgres"]["image"] == "postgres:16"
    assert services["rabbitmq"]["image"] == "rabbitmq:3.13-management"
    assert services["jaeger"]["image"].startswith("jaegertracing/all-in-one:")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_run_the_built_image(services, name):
    service = services[name]
    reference = services["gateway"]
    assert service["build"]["context"] == "."
    assert service["build"].get("dockerfile", "Dockerfile") == "Dockerfile"
    assert service["image"] == reference["image"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_commands_are_valid_mosaic_subcommands(services, name):
    argv = command_of(services[name])
    parser = build_parser()
    subcommands = next(a for a in parser._actions if a.dest == "command").choices
    assert argv[0] in subcommands
    try:
        parser.parse_args(argv)  # the whole command, arguments included
    except SystemExit as exc:  # argparse exits on a bad command line
        pytest.fail(f"{name}: `mosaic {' '.join(argv)}` is rejected by the CLI ({exc})")


def test_app_commands_start_the_expected_processes(services):
    assert command_of(services["migrate"]) == ["migrate"]
    assert command_of(services["gateway"]) == ["serve", "gateway"]
    assert command_of(services["contacts"]) == ["serve", "contacts"]
    assert command_of(services["relay"]) == ["relay", "contacts"]
    assert command_of(services["hub"]) == ["serve", "hub"]


def test_every_installed_service_runs_with_its_relay(services):
    """The compose file starts each service found through the ``mosaic.services`` entry points,
    modules and platform services (the hub) alike, and the outbox relay of each that has an
    outbox: a service installed but missing here would never run in containers."""
    commands = [command_of(s) for s in services.values() if "command" in s]
    assert "hub" in installed_services.running()
    for name in installed_services.running():
        assert ["serve", name] in commands, f"docker-compose.yml does not serve the {name} service"
    for name in installed_services.relayed():
        assert ["relay", name] in commands, f"docker-compose.yml does not relay the {name} outbox"
    assert ["serve", installed_services.gateway().name] in commands


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_environment(services, name):
    env = services[name]["environment"]
    assert env["MOSAIC_MODE"] == "distributed"
    assert env["MOSAIC_DATABASE_URL"] == "postgresql://postgres:postgres@postgres:5432/mosaic"
    assert env["MOSAIC_AMQP_URI"] == "amqp://guest:guest@rabbitmq:5672/"
    assert env["MOSAIC_OTEL_EXPORTER"] == "otlp"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    for secret in ("MOSAIC_SECRET_KEY", "MOSAIC_OPERATOR_KEY"):
        # required from the host environment: no default anyone could read here
        assert re.fullmatch(rf"\$\{{{secret}:\?[^}}]+\}}", env[secret]), env[secret]


def test_no_published_key_is_left_in_compose(compose):
    from mosaic.config import KNOWN_KEYS

    text = (ROOT / "docker-compose.yml").read_text()
    assert ":-dev-" not in text
    assert not any(f":-{key}" in text for key in KNOWN_KEYS)


def test_app_urls_point_at_compose_services(services):
    env = services["gateway"]["environment"]
    postgres = services["postgres"]["environment"]
    db = urlsplit(env["MOSAIC_DATABASE_URL"])
    assert db.hostname in services and db.username == postgres["POSTGRES_USER"]
    assert db.password == postgres["POSTGRES_PASSWORD"] and db.path == f"/{postgres['POSTGRES_DB']}"
    assert urlsplit(env["MOSAIC_AMQP_URI"]).hostname in services
    otlp = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert otlp.hostname == "jaeger" and otlp.port == 4318
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    redis = urlsplit(env["MOSAIC_REDIS_URL"])  # gateway replicas share their rate limits
    assert redis.scheme == "redis" and redis.hostname == "redis" and redis.port == 6379
    assert services["gateway"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_healthchecks(services):
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["rabbitmq"]["healthcheck"]["test"][1:] == ["rabbitmq-diagnostics", "-q", "ping"]
    gateway = services["gateway"]["healthcheck"]["test"]
    assert gateway[:3] == ["CMD", "python", "-c"]  # the slim image has no curl
    assert "urllib" in gateway[3] and "/healthz" in gateway[3]
    port = services["gateway"]["environment"]["MOSAIC_PORT"]
    assert f":{port}/healthz" in gateway[3]
    assert f"{port}:{port}" in services["gateway"]["ports"]
    assert services["gateway"]["environment"]["MOSAIC_HOST"] == "0.0.0.0"
    compile(gateway[3], "healthcheck", "exec")  # the probe is valid Python


def test_depends_on_targets_exist_with_sound_conditions(services):
    for name, service in services.items():
        for target, spec in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"
            elif condition == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} is not one-shot"
            else:
                assert condition == "service_started"


def test_processes_wait_for_servers_and_migrations(services):
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("gateway", "contacts", "relay"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["rabbitmq"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_dockerfile_base_user_and_entrypoint_match_pyproject(pyproject):
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    (entrypoint,) = [json.loads(args) for keyword, args in instructions if keyword == "ENTRYPOINT"]
    scripts = pyproject["project"]["scripts"]
    assert entrypoint == ["mosaic"] and "mosaic" in scripts
    module, _, function = scripts["mosaic"].partition(":")
    assert callable(getattr(__import__(module, fromlist=[function]), function))


def test_dockerfile_installs_this_project_without_dev_extras():
    runs = " && ".join(args for keyword, args in dockerfile_instructions() if keyword == "RUN")
    installs = [shlex.split(part.strip()) for part in runs.split("&&") if "pip install" in part]
    targets = [arg for argv in installs for arg in argv[argv.index("install") + 1:]
               if not arg.startswith("-")]
    assert "." in targets  # the project itself, not an editable or extra-laden install
    assert not any("[" in target for target in targets), targets
    assert "dev" not in runs.replace("/dev/", "")


def test_image_contains_every_package_root(pyproject):
    copied = [args.split()[0] for keyword, args in dockerfile_instructions() if keyword == "COPY"]
    roots = {path.split("/")[0] for path in pyproject["tool"]["setuptools"]["package-dir"].values()}
    assert "pyproject.toml" in copied
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for root in roots:
        assert root in copied or "." in copied, f"{root}/ is not copied into the image"
        assert not any(fnmatch.fnmatch(root, pattern) for pattern in ignored), f"{root}/ is ignored"


def test_every_package_is_listed_for_the_non_editable_install(pyproject):
    # The dev venv is editable and finds any package; `pip install .` in the image ships only
    # the packages listed in pyproject, so an unlisted one would break only in Docker.
    setuptools = pyproject["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    for name, directory in setuptools["package-dir"].items():
        base = ROOT / directory
        for init in base.rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            relative = init.parent.relative_to(base).parts
            package = ".".join((name, *relative))
            assert package in listed, f"{package} is missing from pyproject's packages"
