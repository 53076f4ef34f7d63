"""Configuration, read from the environment in one place.

Every setting has a default that makes the embedded mode work with nothing set. The table in
README.md lists them; `tests/unit/mosaic/test_config.py` checks that the two agree.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

#: name -> (default, meaning). The README table is generated from, and tested against, this.
ENV_VARS: dict[str, tuple[str, str]] = {
    "MOSAIC_MODE": ("embedded", "`embedded` (one process, SQLite, in-process broker) or `distributed`"),
    "MOSAIC_HOST": ("127.0.0.1", "address the gateway listens on"),
    "MOSAIC_PORT": ("8000", "port the gateway listens on"),
    "MOSAIC_DATA_DIR": ("./var", "embedded mode: where the SQLite files and the generated secret live"),
    "MOSAIC_DATABASE_URL": ("postgresql://postgres@127.0.0.1:5432/mosaic",
                            "distributed mode: PostgreSQL database; each service uses its own schema"),
    "MOSAIC_AMQP_URI": ("amqp://guest:guest@127.0.0.1:5672/", "distributed mode: RabbitMQ"),
    "MOSAIC_SECRET_KEY": ("", "JWT signing key; embedded mode generates one under MOSAIC_DATA_DIR"),
    "MOSAIC_OPERATOR_KEY": ("", "operator API key allowed to create tenants (empty: operator API off)"),
    "MOSAIC_ACCESS_TTL": ("900", "access token lifetime, seconds"),
    "MOSAIC_REFRESH_TTL": ("1209600", "refresh token lifetime, seconds"),
    "MOSAIC_RATE_LIMIT": ("600", "requests per minute per tenant (0: off)"),
    "MOSAIC_KEY_RATE_LIMIT": ("300", "requests per minute per API key (0: off)"),
    "MOSAIC_MAX_BODY": ("1048576", "largest JSON request body, bytes"),
    "MOSAIC_MAX_UPLOAD": ("209715200", "largest CSV upload, bytes"),
    "MOSAIC_MAX_PAGE": ("500", "largest page size a list may ask for"),
    "MOSAIC_RPC_POOL": ("64", "pooled RPC proxies in the gateway"),
    "MOSAIC_RPC_TIMEOUT": ("30", "RPC reply timeout, seconds; a request still queued after it expires unrun"),
    "MOSAIC_DEDUP_THRESHOLD": ("90", "fuzzy name + company duplicate threshold, 0-100 (rapidfuzz)"),
    "MOSAIC_RELAY_BATCH": ("500", "outbox rows the relay claims per batch"),
    "MOSAIC_RELAY_INTERVAL": ("0.2", "relay poll interval when the outbox is empty, seconds"),
    "MOSAIC_OTEL_EXPORTER": ("none", "traces exporter: `otlp`, `console` or `none`"),
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("http://127.0.0.1:4318", "OTLP/HTTP collector, when the exporter is `otlp`"),
    "MOSAIC_LOG_LEVEL": ("INFO", "log level of the JSON logs"),
    "MOSAIC_DEMO": ("1", "embedded mode: create the `demo` tenant on first start"),
    "MOSAIC_PLUGINS": ("", "extra plugin modules to load besides the installed `mosaic.plugins` entry points "
                           "(comma-separated module paths; for plugin development)"),
    "MOSAIC_JOBS_INTERVAL": ("1", "how often each service runs due automation jobs, stage timers and its "
                                  "rules' webhook deliveries, and the hub its subscriptions' webhook "
                                  "deliveries, seconds"),
    "MOSAIC_NOTIFICATIONS_KEEP_DAYS": ("90", "days the hub keeps a notification after it was read (unread ones "
                                             "are kept)"),
    "MOSAIC_REDIS_URL": ("", "Redis shared by the gateway replicas for rate limits, e.g. "
                             "`redis://redis:6379/0` (empty: each gateway process counts alone)"),
    "MOSAIC_WEBHOOK_ALLOW": ("", "comma-separated CIDRs or host names webhooks may call although they are "
                                 "not public (loopback, private, link-local); for development and tests, "
                                 "e.g. `127.0.0.1/32`"),
    "MOSAIC_DB_REQUEST_TIMEOUT": ("15", "PostgreSQL statement timeout of request work (RPC, HTTP), seconds "
                                        "(0: none); a statement over it is a 503"),
    "MOSAIC_DB_JOB_TIMEOUT": ("120", "PostgreSQL statement timeout of background automation jobs, "
                                     "seconds (0: none; field index builds have none)"),
    "MOSAIC_DB_IMPORT_TIMEOUT": ("600", "PostgreSQL statement timeout of CSV import batches, seconds (0: none)"),
}

@dataclass(frozen=True)
class Settings:
    """Typed view of the environment. Build with :func:`load_settings`; override with ``replace``."""

    mode: str = "embedded"
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./var")
    database_url: str = "postgresql://postgres@127.0.0.1:5432/mosaic"
    amqp_uri: str = "amqp://guest:guest@127.0.0.1:5672/"
    secret_key: str = ""
    operator_key: str = ""
    access_ttl: int = 900
    refresh_ttl: int = 1209600
    rate_limit: int = 600
    key_rate_limit: int = 300
    max_body: int = 1048576
    max_upload: int = 209715200
    max_page: int = 500
    rpc_pool: int = 64
    rpc_timeout: float = 30.0
    dedup_threshold: int = 90
    relay_batch: int = 500
    relay_interval: float = 0.2
    otel_exporter: str = "none"
    otlp_endpoint: str = "http://127.0.0.1:4318"
    log_level: str = "INFO"
    demo: bool = True
    plugins: tuple[str, ...] = ()
    jobs_interval: float = 1.0
    notifications_keep_days: int = 90
    redis_url: str = ""
    webhook_allow: tuple[str, ...] = ()
    db_request_timeout: float = 15.0
    db_job_timeout: float = 120.0
    db_import_timeout: float = 600.0

    @property
    def embedded(self) -> bool:
        return self.mode == "embedded"

    def database_url_for(self, service: str) -> str:
        """The database a service owns: its own SQLite file, or the shared PostgreSQL server
        (the service's tables then live in a schema named after it)."""
        if self.embedded:
            return f"sqlite:///{(self.data_dir / f'{service}.db').resolve()}"
        return self.database_url

    def with_(self, **changes) -> "Settings":
        """A copy with some settings changed (tests use this, never globals)."""
        return replace(self, **changes)


def load_settings(environ: dict | None = None) -> Settings:
    """Read :class:`Settings` from ``environ`` (default ``os.environ``)."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str:
        return env.get(name, ENV_VARS[name][0])

    mode = get("MOSAIC_MODE")
    if mode not in ("embedded", "distributed"):
        raise ValueError(f"MOSAIC_MODE must be 'embedded' or 'distributed', not {mode!r}")
    amqp = get("MOSAIC_AMQP_URI")
    if mode == "embedded":
        amqp = "memory://"
    return Settings(
        mode=mode,
        host=get("MOSAIC_HOST"),
        port=int(get("MOSAIC_PORT")),
        data_dir=Path(get("MOSAIC_DATA_DIR")),
        database_url=get("MOSAIC_DATABASE_URL"),
        amqp_uri=amqp,
        secret_key=get("MOSAIC_SECRET_KEY"),
        operator_key=get("MOSAIC_OPERATOR_KEY"),
        access_ttl=int(get("MOSAIC_ACCESS_TTL")),
        refresh_ttl=int(get("MOSAIC_REFRESH_TTL")),
        rate_limit=int(get("MOSAIC_RATE_LIMIT")),
        key_rate_limit=int(get("MOSAIC_KEY_RATE_LIMIT")),
        max_body=int(get("MOSAIC_MAX_BODY")),
        max_upload=int(get("MOSAIC_MAX_UPLOAD")),
        max_page=int(get("MOSAIC_MAX_PAGE")),
        rpc_pool=int(get("MOSAIC_RPC_POOL")),
        rpc_timeout=float(get("MOSAIC_RPC_TIMEOUT")),
        dedup_threshold=int(get("MOSAIC_DEDUP_THRESHOLD")),
        relay_batch=int(get("MOSAIC_RELAY_BATCH")),
        relay_interval=float(get("MOSAIC_RELAY_INTERVAL")),
        otel_exporter=get("MOSAIC_OTEL_EXPORTER"),
        otlp_endpoint=get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        log_level=get("MOSAIC_LOG_LEVEL"),
        demo=get("MOSAIC_DEMO") not in ("0", "false", "no", ""),
        plugins=tuple(p.strip() for p in get("MOSAIC_PLUGINS").split(",") if p.strip()),
        jobs_interval=float(get("MOSAIC_JOBS_INTERVAL")),
        notifications_keep_days=int(get("MOSAIC_NOTIFICATIONS_KEEP_DAYS")),
        redis_url=get("MOSAIC_REDIS_URL").strip(),
        webhook_allow=tuple(p.strip() for p in get("MOSAIC_WEBHOOK_ALLOW").split(",") if p.strip()),
        db_request_timeout=float(get("MOSAIC_DB_REQUEST_TIMEOUT")),
        db_job_timeout=float(get("MOSAIC_DB_JOB_TIMEOUT")),
        db_import_timeout=float(get("MOSAIC_DB_IMPORT_TIMEOUT")),
    )


#: values published in this repository's history (docker-compose defaults, examples) or too
#: obvious to be secret: anyone can sign tokens or create tenants with them.
KNOWN_KEYS = frozenset({"dev-secret-key-change-me", "dev-operator-key", "change-me", "changeme",
                        "secret", "secret-key", "operator-key", "password", "mosaic"})
MIN_SECRET_KEY = 32
MIN_OPERATOR_KEY = 16


def check_keys(settings: Settings) -> None:
    """Refuse a known or too short ``MOSAIC_SECRET_KEY`` / ``MOSAIC_OPERATOR_KEY`` (a RuntimeError
    naming the setting, never its value). An empty operator key is allowed: the operator API is
    then off."""
    problems = []
    for name, value, least, required in (("MOSAIC_SECRET_KEY", settings.secret_key, MIN_SECRET_KEY, True),
                                         ("MOSAIC_OPERATOR_KEY", settings.operator_key, MIN_OPERATOR_KEY, False)):
        if not value and not required:
            continue
        if not value:
            problems.append(f"{name} must be set in the distributed mode")
        elif value.strip().lower() in KNOWN_KEYS:
            problems.append(f"{name} is a published default; set a random value "
                            "(python -c 'import secrets; print(secrets.token_urlsafe(48))')")
        elif len(value) < least:
            problems.append(f"{name} is too short: at least {least} characters")
    if problems:
        raise RuntimeError("; ".join(problems))


def ensure_secret(settings: Settings) -> Settings:
    """Embedded mode keeps a generated signing key under the data dir so restarts keep sessions;
    the distributed mode must be given its keys, and refuses known or short ones."""
    if not settings.embedded:
        check_keys(settings)
        return settings
    if settings.secret_key:
        return settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "secret.key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return settings.with_(secret_key=path.read_text().strip())
