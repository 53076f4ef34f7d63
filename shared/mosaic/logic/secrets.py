"""What a definition holds that must not leave the service as it is: the signing secrets (and,
for readers who are not admins, the URLs) of its webhook actions.

* On save, :func:`seal_secrets` turns every new secret into its sealed form
  (:mod:`mosaic.webhooks.sealing`); a webhook action that leaves ``secret`` out, or gives
  :data:`MASK`, keeps the secret stored for it; ``"secret": null`` removes it.
* On read, :func:`public_definition` shows only that a secret is set (``"secret": MASK``).
* For export, :func:`without_secrets` drops them and says where they were, so an import into
  another tenant can tell which rules need their secret set again.

A webhook action is any object with ``"type": "webhook"`` anywhere in a definition: a rule's
``actions``, a process stage's actions or timers.
"""
from __future__ import annotations

import copy
from typing import Any, Iterator
from urllib.parse import urlsplit

from mosaic.errors import ServiceUnavailable, ValidationFailed
from mosaic.webhooks.egress import STRICT, EgressPolicy
from mosaic.webhooks.sealing import MAX_SECRET_BYTES, SecretBox, is_sealed

#: what a read shows for a stored secret; a write giving it back keeps the stored one
MASK = "********"
MIN_SECRET = 16


def webhook_actions(value: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    """``(JSON path, action)`` of every webhook action in a definition, in document order."""
    if isinstance(value, dict):
        if value.get("type") == "webhook":
            yield path, value
            return
        for key, item in value.items():
            yield from webhook_actions(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from webhook_actions(item, f"{path}[{i}]")


def has_secret(action: dict) -> bool:
    """Whether a webhook action carries a secret (sealed, plain or masked)."""
    return isinstance(action.get("secret"), str) and bool(action["secret"])


def _stored_for(previous: list[tuple[str, dict]], path: str, url: Any, used: set[str]) -> str | None:
    """The secret stored for the action at ``path``: the action at the same place with the same
    URL, else one with the same URL (the actions were reordered), else the one at the same place
    (its URL was edited)."""
    candidates = ([p for p, a in previous if p == path and a.get("url") == url]
                  + [p for p, a in previous if a.get("url") == url] + [p for p, a in previous if p == path])
    by_path = dict(previous)
    for p in candidates:
        if p not in used and has_secret(by_path[p]):
            used.add(p)
            return by_path[p]["secret"]
    return None


def seal_secrets(definition: Any, previous: dict | None, box: SecretBox | None,
                 policy: EgressPolicy | None = None) -> Any:
    """A copy of ``definition`` as it is stored: every webhook action's secret sealed (a new one),
    kept (left out or :data:`MASK`: the one ``previous`` holds for it) or dropped (``null``), and
    every webhook URL checked against ``policy`` (public addresses only unless given).
    ValidationFailed names each problem by its JSON path."""
    if not isinstance(definition, dict):
        return definition  # the compiler says what is wrong with it
    out = copy.deepcopy(definition)
    old = list(webhook_actions(previous)) if isinstance(previous, dict) else []
    used: set[str] = set()
    errors: dict[str, list[str]] = {}
    for path, action in webhook_actions(out):
        url = action.get("url")
        if isinstance(url, str) and url.strip():
            problems = (policy or STRICT).problems(url)
            if problems:
                errors[f"{path}.url"] = problems
        kept_only = "secret" not in action  # left out: keep what is stored, if anything
        given = MASK if kept_only else action["secret"]
        if given is None:
            action.pop("secret", None)
        elif given == MASK:
            stored = _stored_for(old, path, url, used)
            if stored is not None:
                action["secret"] = stored if is_sealed(stored) else _seal(box, stored)
            else:
                action.pop("secret", None)
                if not kept_only:
                    errors[f"{path}.secret"] = ["no secret is stored for this action: give the secret itself"]
        elif not isinstance(given, str) or is_sealed(given):
            errors[f"{path}.secret"] = ["must be the secret itself (text), null to remove it, or "
                                        f"{MASK!r} to keep the stored one"]
        elif not MIN_SECRET <= len(given) or len(given.encode("utf-8")) > MAX_SECRET_BYTES:
            errors[f"{path}.secret"] = [f"must be {MIN_SECRET} to {MAX_SECRET_BYTES} characters"]
        else:
            action["secret"] = _seal(box, given)
    if errors:
        raise ValidationFailed("Invalid webhook action.", errors=errors)
    return out


def _seal(box: SecretBox | None, secret: str) -> str:
    if box is None:
        raise ServiceUnavailable("webhook secrets cannot be stored: MOSAIC_SECRET_KEY is not set "
                                 "for this service")
    return box.seal(secret)


def _origin(url: Any) -> str:
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"
    except (TypeError, ValueError, AttributeError):
        return "…"


def public_definition(definition: dict, admin: bool = True) -> dict:
    """``definition`` as a read shows it: secrets as :data:`MASK`; for a caller who is not an
    admin, webhook URLs cut to their origin too (their path often carries a token)."""
    if not any(True for _ in webhook_actions(definition)):
        return definition
    out = copy.deepcopy(definition)
    for _path, action in webhook_actions(out):
        if has_secret(action):
            action["secret"] = MASK
        if not admin and "url" in action:
            action["url"] = _origin(action["url"])
    return out


def without_secrets(definition: dict) -> tuple[dict, list[str]]:
    """``definition`` without its webhook secrets, and the JSON paths they were at."""
    out = copy.deepcopy(definition)
    paths = []
    for path, action in webhook_actions(out):
        if has_secret(action):
            paths.append(f"{path}.secret")
        action.pop("secret", None)
    return out, paths
