"""IpAllowlist: IPv4 and IPv6 networks, and an X-Forwarded-For that clients cannot spoof."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, cast

import pytest

from idwise_events import IpAllowlist, VerificationError, WebhookRequest

pytestmark = pytest.mark.usefixtures("no_canary_in_logs")

NETWORKS = ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"]
ALLOWED, DENIED = "203.0.113.9", "192.0.2.66"
PROXY = "10.0.0.2"  # your own reverse proxy, the connecting peer when there is one


def request(
    client_ip: str | None, headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()
) -> WebhookRequest:
    return WebhookRequest(b"{}", headers, client_ip)


def refuses(verifier: IpAllowlist, req: WebhookRequest) -> None:
    with pytest.raises(VerificationError, match="client address is not allowed") as caught:
        verifier.verify(req)
    assert caught.value.__context__ is None


@pytest.mark.parametrize(
    "client_ip",
    ["203.0.113.9", "203.0.113.255", "198.51.100.7", "2001:db8::1", "2001:DB8:ffff::9"],
)
def test_addresses_in_the_networks_pass(client_ip: str) -> None:
    """IPv4 and IPv6 networks and single addresses all match their members."""
    IpAllowlist(NETWORKS).verify(request(client_ip))


@pytest.mark.parametrize(
    "client_ip",
    [
        "192.0.2.66",
        "203.0.114.1",
        "198.51.100.8",
        "2001:db9::1",
        "::1",
        None,
        "",
        "not-an-address",
        "203.0.113.9:443",  # with a port: not an address
        "[2001:db8::1]",
        "203.0.113",
        " 203.0.113.9",
    ],
)
def test_other_missing_and_malformed_addresses_fail(client_ip: str | None) -> None:
    """Anything not in a network, absent or unparsable is refused with VerificationError."""
    refuses(IpAllowlist(NETWORKS), request(client_ip))


def test_ipv4_mapped_ipv6_clients_match_ipv4_networks() -> None:
    """A dual-stack server may report ``::ffff:203.0.113.9``: it is the IPv4 client."""
    verifier = IpAllowlist(["203.0.113.0/24"])

    verifier.verify(request("::ffff:203.0.113.9"))
    refuses(verifier, request("::ffff:192.0.2.66"))


def test_without_trusted_proxies_x_forwarded_for_is_ignored() -> None:
    """With no trusted proxy, a client's own X-Forwarded-For cannot buy it an allowed address."""
    verifier = IpAllowlist(NETWORKS)

    refuses(verifier, request(DENIED, {"X-Forwarded-For": ALLOWED}))
    refuses(verifier, request(None, {"X-Forwarded-For": ALLOWED}))
    verifier.verify(request(ALLOWED, {"X-Forwarded-For": "garbage, 192.0.2.66"}))


def test_one_trusted_proxy_reads_the_rightmost_entry() -> None:
    """Behind one proxy, the client is the entry that proxy appended: the rightmost one."""
    verifier = IpAllowlist(NETWORKS, trusted_proxies=1)

    verifier.verify(request(PROXY, {"X-Forwarded-For": ALLOWED}))
    verifier.verify(request(PROXY, {"X-Forwarded-For": f"{DENIED}, {ALLOWED}"}))
    refuses(verifier, request(ALLOWED, {}))  # the peer is the proxy, never the client
    refuses(verifier, request(ALLOWED, {"X-Forwarded-For": ""}))


def test_spoofed_entries_left_of_the_trusted_hops_are_never_read() -> None:
    """A client sending its own X-Forwarded-For only adds entries no trusted proxy wrote."""
    one = IpAllowlist(NETWORKS, trusted_proxies=1)
    two = IpAllowlist(NETWORKS, trusted_proxies=2)

    # The client claims ALLOWED; the proxy appends the address it really saw.
    refuses(one, request(PROXY, {"X-Forwarded-For": f"{ALLOWED}, {DENIED}"}))
    refuses(one, request(PROXY, {"X-Forwarded-For": f"{ALLOWED},{ALLOWED}, {DENIED}"}))
    # Two proxies: the outer one appended the client, the inner one appended the outer proxy.
    refuses(two, request(PROXY, {"X-Forwarded-For": f"{ALLOWED}, {DENIED}, 10.0.0.1"}))
    two.verify(request(PROXY, {"X-Forwarded-For": f"{DENIED}, {ALLOWED}, 10.0.0.1"}))


def test_forwarded_values_from_repeated_headers_are_joined_in_order() -> None:
    """Several X-Forwarded-For lines count as one comma-separated list, in the order received."""
    verifier = IpAllowlist(NETWORKS, trusted_proxies=2)
    headers = [("X-Forwarded-For", f"{DENIED}, {ALLOWED}"), ("x-forwarded-for", "10.0.0.1")]

    verifier.verify(request(PROXY, headers))
    spoofed = [("X-Forwarded-For", ALLOWED), ("X-Forwarded-For", f"{DENIED}, 10.0.0.1")]
    refuses(verifier, request(PROXY, spoofed))


@pytest.mark.parametrize(
    "forwarded",
    [None, "", ALLOWED, f" , {ALLOWED}", f"{ALLOWED}, not-an-ip, 10.0.0.1", f"{ALLOWED},,10.0.0.1"],
)
def test_too_few_or_malformed_forwarded_entries_fail(forwarded: str | None) -> None:
    """Fewer entries than trusted proxies, or an unparsable one at the client's place, fail."""
    headers = {} if forwarded is None else {"X-Forwarded-For": forwarded}

    refuses(IpAllowlist(NETWORKS, trusted_proxies=2), request(PROXY, headers))


def test_a_single_network_string_and_network_objects_are_accepted() -> None:
    """One network may be passed as a plain string, and `ipaddress` networks work too."""
    IpAllowlist("203.0.113.0/24").verify(request(ALLOWED))
    IpAllowlist([ipaddress.ip_network("2001:db8::/32")]).verify(request("2001:db8::5"))


def test_repr_shows_networks_and_proxies() -> None:
    """Networks are not secret: the repr lists them, normalised."""
    verifier = IpAllowlist(NETWORKS, trusted_proxies=1)

    assert repr(verifier) == (
        "IpAllowlist(['203.0.113.0/24', '2001:db8::/32', '198.51.100.7/32'], trusted_proxies=1)"
    )
    assert verifier.trusted_proxies == 1
    assert [str(network) for network in verifier.networks] == [
        "203.0.113.0/24",
        "2001:db8::/32",
        "198.51.100.7/32",
    ]


@pytest.mark.parametrize(
    ("networks", "trusted_proxies", "message"),
    [
        ([], 0, "no networks given"),
        (["203.0.113.0/33"], 0, r"invalid network '203.0.113.0/33'"),
        (["203.0.113.5/24"], 0, "has host bits set"),
        (["300.1.1.1"], 0, "invalid network"),
        (["example.com"], 0, "invalid network"),
        (["2001:db8::/129"], 0, "invalid network"),
        (NETWORKS, -1, "trusted_proxies must be 0 or more"),
    ],
)
def test_configuration_errors_are_clear(
    networks: list[str], trusted_proxies: int, message: str
) -> None:
    """Invalid networks, an empty list and a negative proxy count are refused at construction."""
    with pytest.raises(ValueError, match=message):
        IpAllowlist(networks, trusted_proxies=trusted_proxies)


def test_trusted_proxies_must_be_an_integer() -> None:
    """``trusted_proxies=True`` is a mistake, not one proxy."""
    with pytest.raises(TypeError, match="must be an int"):
        IpAllowlist(NETWORKS, trusted_proxies=cast(Any, True))
