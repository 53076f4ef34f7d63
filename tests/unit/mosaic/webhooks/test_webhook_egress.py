"""mosaic.webhooks.egress: webhooks reach public addresses only (checked on save and against the
address actually connected to), an allow-list makes exceptions, and a failure says nothing about
the network behind it. The receiver is a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import ipaddress
import socket

import pytest

from mosaic.config import Settings
from mosaic.webhooks.egress import (CONNECTION_FAILED, STRICT, EgressPolicy, egress_policy, is_public,
                                    post_json)

LOCAL = EgressPolicy.parse(["127.0.0.1/32"])
TIMEOUT = 2.0


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "fe80::1", "fc00::1", "::", "::ffff:127.0.0.1",
    "::ffff:169.254.169.254", "64:ff9b::7f00:1", "2002:7f00:1::1", "2002:a9fe:a9fe::1",
])
def test_non_public_addresses(address):
    assert not is_public(ipaddress.ip_address(address))
    assert not STRICT.address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses(address):
    assert is_public(ipaddress.ip_address(address))


def test_the_allow_list_takes_cidrs_addresses_and_host_names():
    policy = EgressPolicy.parse([" 10.0.0.0/8", "127.0.0.1", "receiver.test", "*.dev.internal", ""])
    assert policy.address_allowed(ipaddress.ip_address("10.9.9.9"))
    assert policy.address_allowed(ipaddress.ip_address("127.0.0.1"))
    assert not policy.address_allowed(ipaddress.ip_address("127.0.0.2"))
    assert policy.host_allowed("Receiver.Test") and policy.host_allowed("api.dev.internal")
    assert not policy.host_allowed("dev.internal.evil.com") and not policy.host_allowed("other.test")
    with pytest.raises(ValueError, match="MOSAIC_WEBHOOK_ALLOW"):
        EgressPolicy.parse(["not a host!"])


def test_the_setting_makes_the_policy():
    assert egress_policy(Settings()) is STRICT
    assert egress_policy(Settings(webhook_allow=("127.0.0.1/32",))) == LOCAL


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/h", "http://169.254.169.254/latest/meta-data/",
                                 "http://[::1]/h", "http://10.0.0.5/h", "http://localhost:9000/h",
                                 "https://0.0.0.0/h"])
def test_saving_a_url_that_points_inside_is_refused(url):
    [problem] = STRICT.problems(url)
    assert "public address" in problem and "MOSAIC_WEBHOOK_ALLOW" in problem
    assert "127.0.0.1" not in problem or "127.0.0.1" in url  # a name's addresses are not revealed


def test_saving_public_allowed_or_unresolvable_urls_is_fine():
    assert STRICT.problems("https://8.8.8.8/hook") == []
    assert STRICT.problems("https://no-such-host.invalid/hook") == []  # checked again at delivery
    assert LOCAL.problems("http://127.0.0.1:8080/h") == []
    assert LOCAL.problems("http://localhost:8080/h") == []  # resolves to 127.0.0.1, which is allowed
    assert EgressPolicy.parse(["localhost"]).problems("http://localhost/h") == []


def _request(receiver, url, policy):
    return post_json(url, b'{"a": 1}', {"Content-Type": "application/json"}, TIMEOUT, policy=policy)


def test_a_name_resolving_to_loopback_is_refused_at_delivery_without_the_allow_list(receiver):
    port = receiver.url.split(":")[2].split("/")[0]
    assert _request(receiver, f"http://localhost:{port}/hooks", STRICT) == (None, CONNECTION_FAILED)
    assert _request(receiver, receiver.url, STRICT) == (None, CONNECTION_FAILED)
    assert receiver.requests == []  # nothing reached it
    assert _request(receiver, f"http://localhost:{port}/hooks?x=1", LOCAL) == (200, None)
    [seen] = receiver.requests
    assert seen["path"] == "/hooks?x=1" and seen["headers"]["Host"] == f"localhost:{port}"


def test_the_connection_goes_to_the_address_that_was_checked(receiver, monkeypatch):
    """DNS rebinding: the name answers 127.0.0.1 (allowed) when checked and a private address
    afterwards; the POST still reaches the checked address, and the name is resolved once."""
    port = int(receiver.url.split(":")[2].split("/")[0])
    real, asked = socket.getaddrinfo, []

    def rebinding(host, *args, **kwargs):
        asked.append(host)
        if host == "rebind.test":
            address = "127.0.0.1" if asked.count("rebind.test") == 1 else "10.255.255.1"
            return real(address, *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    assert _request(receiver, f"http://rebind.test:{port}/hooks", LOCAL) == (200, None)
    assert asked.count("rebind.test") == 1
    assert receiver.requests[0]["headers"]["Host"] == f"rebind.test:{port}"


def test_failures_say_connection_failed_whatever_the_cause(receiver):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    assert _request(receiver, f"http://127.0.0.1:{closed}/h", LOCAL) == (None, CONNECTION_FAILED)  # refused
    assert _request(receiver, "http://no-such-host.invalid/h", LOCAL) == (None, CONNECTION_FAILED)  # no DNS
    receiver.delay = 1.0
    assert post_json(receiver.url, b"{}", {}, 0.2, policy=LOCAL) == (None, CONNECTION_FAILED)  # timeout


def test_an_http_answer_is_returned_and_a_redirect_not_followed(receiver):
    receiver.answer(302, 500)
    assert _request(receiver, receiver.url, LOCAL) == (302, None)
    assert _request(receiver, receiver.url, LOCAL) == (500, None)
    assert len(receiver.requests) == 2
