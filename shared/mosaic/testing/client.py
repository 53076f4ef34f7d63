"""HTTP clients of a running Mosaic for tests: a tenant admin's :class:`MosaicClient`, and
:func:`create_tenant` (operator API, login, plugins enabled) that returns one.

Only ``requests``: importing this starts nothing and patches nothing.
"""
from __future__ import annotations

import uuid
from typing import Any, Iterable

import requests

API_PREFIX = "/api/v1"
DEFAULT_PASSWORD = "correct horse battery staple"


class MosaicClient:
    """A logged-in user of one tenant. Paths are relative to ``/api/v1``::

        client.get("/contacts")                                   # -> requests.Response
        client.json("POST", "/contacts", expected=201, json={"last_name": "Ng"})   # -> dict

    ``tenant`` holds what the operator API answered for the tenant (``id``, ``slug``, ``name``,
    ``modules``, ``plugins``) and ``admin`` (``email``, ``password``).
    """

    def __init__(self, base_url: str, token: str, tenant: dict | None = None, *, timeout: float = 30):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.tenant: dict = tenant or {}
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def login(cls, base_url: str, slug: str, email: str, password: str, *, tenant: dict | None = None,
              timeout: float = 30) -> "MosaicClient":
        """Log in to tenant ``slug`` with ``POST /api/v1/auth/login``; ``tenant`` is kept as
        :attr:`tenant`."""
        resp = requests.post(base_url.rstrip("/") + API_PREFIX + "/auth/login", timeout=timeout,
                             json={"tenant": slug, "email": email, "password": password})
        _expect(resp, 200, "POST", "/auth/login")
        return cls(base_url, resp.json()["access_token"], tenant or {"slug": slug}, timeout=timeout)

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (relative to ``/api/v1``; an absolute path or URL as is)."""
        if path.startswith(("http://", "https://")):
            return path
        if path.startswith(API_PREFIX + "/"):
            return self.base_url + path
        return f"{self.base_url}{API_PREFIX}/{path.lstrip('/')}"

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        """Any request; ``kw`` as for :meth:`requests.Session.request`."""
        kw.setdefault("timeout", self.timeout)
        return self.http.request(method.upper(), self.url(path), **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        """``GET path``."""
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        """``POST path`` (``json=...`` for a body)."""
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        """``PUT path``."""
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        """``PATCH path``."""
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        """``DELETE path``."""
        return self.request("DELETE", path, **kw)

    def json(self, method: str, path: str, expected: int | Iterable[int] = 200, **kw: Any) -> Any:
        """Send a request, assert its status is ``expected`` (one status or several) and return
        the decoded body (None when empty). The assertion message carries the response body."""
        resp = self.request(method, path, **kw)
        _expect(resp, expected, method, path)
        return resp.json() if resp.content else None

    def enable_plugin(self, name: str) -> list[str]:
        """Enable plugin ``name`` for the tenant (the caller must be an admin); the tenant's plugins."""
        resp = self.put(f"/admin/plugins/{name}")
        if resp.status_code == 404:
            raise AssertionError(
                f"plugin {name!r} is not installed in the Mosaic under test: pip install it, or name its "
                f"module in MOSAIC_PLUGINS (e.g. MOSAIC_PLUGINS=mosaic_{name}.plugin) — {resp.text}")
        _expect(resp, 200, "PUT", f"/admin/plugins/{name}")
        plugins = resp.json().get("plugins", [])
        self.tenant["plugins"] = plugins
        return plugins

    def __repr__(self) -> str:
        return f"<MosaicClient {self.tenant.get('slug', '?')} at {self.base_url}>"


def create_tenant(base_url: str, operator_key: str, *, plugins: Iterable[str] = (),
                  modules: Iterable[str] | None = None, slug: str | None = None,
                  password: str = DEFAULT_PASSWORD) -> MosaicClient:
    """A fresh tenant with ``modules`` (default: every installed service; operator API
    ``POST /api/v1/tenants``), its admin logged in, each of ``plugins`` enabled in order
    (``PUT /api/v1/admin/plugins/<name>``)."""
    if modules is None:
        from mosaic import services

        modules = services.names()
    slug = slug or "t-" + uuid.uuid4().hex[:12]
    admin = {"email": f"admin@{slug}.test", "password": password, "name": "Admin"}
    resp = requests.post(base_url.rstrip("/") + API_PREFIX + "/tenants", timeout=30,
                         headers={"X-Operator-Key": operator_key},
                         json={"slug": slug, "name": slug.upper(), "modules": list(modules), "admin": admin})
    _expect(resp, 201, "POST", "/tenants")
    tenant = resp.json()
    tenant["admin"] = {**tenant.get("admin", {}), "email": admin["email"], "password": password}
    client = MosaicClient.login(base_url, slug, admin["email"], password, tenant=tenant)
    for name in plugins:
        client.enable_plugin(name)
    return client


def _expect(resp: requests.Response, expected: int | Iterable[int], method: str, path: str) -> None:
    allowed = (expected,) if isinstance(expected, int) else tuple(expected)
    assert resp.status_code in allowed, (
        f"{method.upper()} {path}: expected {' or '.join(map(str, allowed))}, got {resp.status_code}: "
        f"{resp.text[:2000]}")
