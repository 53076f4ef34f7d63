"""The gateway's Flask class: what it changes of Flask's own behaviour."""
import asyncio

import pytest
from flask import Flask

from mosaic_gateway.app import GatewayFlask


@pytest.fixture
def app():
    return GatewayFlask("gateway-app-test")


def test_a_plain_view_runs_as_it_is(app):
    def view():
        return "ok"

    assert app.ensure_sync(view) is view


def test_an_async_view_is_still_handed_to_flask(app, monkeypatch):
    async def view():
        return "ok"

    handed = []
    monkeypatch.setattr(app, "async_to_sync", lambda func: handed.append(func) or "wrapped")
    assert app.ensure_sync(view) == "wrapped" and handed == [view]


def test_a_function_marked_as_a_coroutine_function_gets_flasks_answer(app, monkeypatch):
    def view():
        return asyncio.sleep(0)

    view._is_coroutine_marker = object()  # what inspect.markcoroutinefunction sets (3.12+)
    monkeypatch.setattr(app, "async_to_sync", lambda func: "wrapped")
    assert app.ensure_sync(view) == Flask.ensure_sync(app, view)
