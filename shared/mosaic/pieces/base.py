"""What a piece is, and the checks that a composed service class holds together.

A *piece* is a mixin class of nameko entrypoints (``@rpc`` methods, timers, or helpers an
entrypoint of the service calls) that a service composes into its class. A piece says what it
needs of the service in :attr:`Piece.needs` (``ctx``, ``data``, ``name`` and the type each must
be); :func:`check_class` verifies every piece's needs when the service's class is loaded, and
:func:`check_service` that the class answers what its :class:`~mosaic.services.ServiceSpec`
promises the gateway (``records``, ``imports``, ``view_360``).
"""
from __future__ import annotations

import inspect
from typing import ClassVar

from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.rpc import Rpc
from nameko.timer import Timer


class Piece:
    """Base of every piece. ``needs`` maps a class attribute the service must declare to the
    type it must have (``{"ctx": Tenancy, "data": Records}``)."""

    needs: ClassVar[dict[str, type]] = {}


def entrypoints(cls: type) -> dict[str, tuple[str, ...]]:
    """``{method name: (entrypoint kind, ...)}`` of a nameko class, a kind being ``rpc``,
    ``timer`` or the entrypoint's class name (``DomainEvents``)."""
    found: dict[str, tuple[str, ...]] = {}
    for name, member in inspect.getmembers(cls):
        kinds = tuple(_kind(ep) for ep in getattr(member, ENTRYPOINT_EXTENSIONS_ATTR, ()))
        if kinds:
            found[name] = kinds
    return found


def _kind(ep) -> str:
    if isinstance(ep, Rpc):
        return "rpc"
    if isinstance(ep, Timer):
        return "timer"
    return type(ep).__name__


def rpc_names(cls: type) -> set[str]:
    """The RPC methods of a class (a piece or a service)."""
    return {name for name, kinds in entrypoints(cls).items() if "rpc" in kinds}


def timer_names(cls: type) -> set[str]:
    """The timers of a class (a piece or a service)."""
    return {name for name, kinds in entrypoints(cls).items() if "timer" in kinds}


def pieces_of(cls: type) -> list[type]:
    """The pieces a class is composed of, in method resolution order."""
    return [k for k in cls.__mro__ if issubclass(k, Piece) and k is not Piece and "needs" in vars(k)]


def check_class(cls: type) -> None:
    """Raise ``TypeError`` naming every need of ``cls``'s pieces it does not meet, and a write
    entrypoint without :class:`~mosaic.pieces.jobs.Housekeeping` (its request log would grow
    forever)."""
    from mosaic.pieces.jobs import Housekeeping

    problems = []
    for piece in pieces_of(cls):
        for attr, wanted in piece.needs.items():
            value = getattr(cls, attr, None)
            if not isinstance(value, wanted):
                problems.append(f"{piece.__name__} needs {attr} = a {wanted.__name__} "
                                f"(found {type(value).__name__})")
    writes = sorted(name for name in rpc_names(cls) if getattr(getattr(cls, name), "write_once", False))
    if writes and not issubclass(cls, Housekeeping):
        problems.append(f"write entrypoints ({', '.join(writes)}) need the Housekeeping piece, which "
                        "purges the request log")
    if problems:
        raise TypeError(f"{cls.__module__}.{cls.__name__} does not hold together: " + "; ".join(problems))


def promised_rpcs(spec) -> set[str]:
    """The RPCs the gateway and the platform call on a service with this spec."""
    from mosaic.imports.service import ImportsService
    from mosaic.pieces import RECORD_HOST, Health

    wanted = set(rpc_names(Health))
    if spec.records:
        for piece in RECORD_HOST:
            wanted |= rpc_names(piece)
    if spec.imports:
        wanted |= rpc_names(ImportsService)
    if spec.view_360:
        wanted.add(spec.view_360)
    return wanted


def check_service(spec, cls: type) -> None:
    """Raise ``TypeError`` if ``cls`` lacks an RPC its spec promises, or its pieces' needs."""
    check_class(cls)
    missing = sorted(promised_rpcs(spec) - rpc_names(cls))
    if missing:
        raise TypeError(f"service {spec.name!r} ({cls.__module__}.{cls.__name__}) lacks RPCs its ServiceSpec "
                        f"promises: {', '.join(missing)} (compose the pieces that bring them, or change "
                        "the spec: records=False, imports=False, view_360=None)")
