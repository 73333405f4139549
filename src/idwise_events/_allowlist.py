"""`IpAllowlist`: accept deliveries only from given networks, safely behind reverse proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from functools import lru_cache

from ._auth import Combinable
from ._errors import VerificationError
from ._request import WebhookRequest
from ._text import printable

__all__ = ["IpAllowlist"]

_IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
"""An IPv4 or IPv6 network, as `IpAllowlist` takes and keeps them."""


class IpAllowlist(Combinable):
    """Accept only requests from the given networks (IDWise's IP ranges, which IDWise provides).

    By default the client address is the connecting peer's
    ([`WebhookRequest.client_ip`][idwise_events.WebhookRequest.client_ip]) and
    ``X-Forwarded-For`` is ignored, because any client can send one. Behind reverse proxies that
    you run, set ``trusted_proxies`` to how many there are: the client is then the entry that many
    places from the right of ``X-Forwarded-For`` (all its values joined), the one your outermost
    proxy wrote. Entries further left were written by the client and are never read.

    Args:
        networks: IPv4 and IPv6 networks or single addresses, such as ``"203.0.113.0/24"``,
            ``"2001:db8::/32"`` or ``"198.51.100.7"`` (or `ipaddress` network objects). An
            IPv4-mapped IPv6 client (``::ffff:203.0.113.9``) matches the IPv4 networks.
        trusted_proxies: How many reverse proxies of yours stand in front of the application.

    Raises:
        ValueError: If ``networks`` is empty or holds something that is not an IP network
            (host bits set included), or ``trusted_proxies`` is negative.
        TypeError: If ``trusted_proxies`` is not an ``int`` (``True`` is not one proxy).

    Example:
        ```python
        IpAllowlist(["203.0.113.0/24", "2001:db8::/32"], trusted_proxies=1)
        ```
    """

    __slots__ = ("_allows", "_networks", "_trusted_proxies")

    def __init__(
        self, networks: Iterable[str | IpNetwork] | str, *, trusted_proxies: int = 0
    ) -> None:
        parsed: list[IpNetwork] = []
        for network in [networks] if isinstance(networks, str) else networks:
            try:
                parsed.append(ipaddress.ip_network(network))
            except ValueError as exc:  # networks are not secret: naming the bad one helps
                raise ValueError(f"IpAllowlist: invalid network {network!r}: {exc}") from exc
        if not parsed:
            raise ValueError("IpAllowlist: no networks given")
        if isinstance(trusted_proxies, bool) or not isinstance(trusted_proxies, int):
            raise TypeError("IpAllowlist: trusted_proxies must be an int")
        if trusted_proxies < 0:
            raise ValueError("IpAllowlist: trusted_proxies must be 0 or more")
        self._networks = tuple(parsed)
        self._trusted_proxies = trusted_proxies
        # IDWise sends from a handful of addresses: remember the verdict per address text, which
        # saves parsing it (the bulk of the cost). A flood of new addresses only churns the cache.
        self._allows: Callable[[str | None], bool] = lru_cache(maxsize=1024)(self._check)

    @property
    def networks(self) -> tuple[IpNetwork, ...]:
        """The allowed networks."""
        return self._networks

    @property
    def trusted_proxies(self) -> int:
        """How many reverse proxies of yours forward the requests (0: none)."""
        return self._trusted_proxies

    def verify(self, request: WebhookRequest) -> None:
        """Accept the request only if its client address is in one of the networks."""
        if not self._accepts(request):
            reason = self._problem(request)
            raise VerificationError("client address is not allowed", reason=reason)

    def _accepts(self, request: WebhookRequest) -> bool:
        return self._allows(_client_address(request, self._trusted_proxies))

    def _problem(self, request: WebhookRequest) -> str:
        """The log's reason for refusing the address (not a secret; escaped: a header's text)."""
        address = _client_address(request, self._trusted_proxies)
        source = (
            "the connecting peer"
            if not self._trusted_proxies
            else f"X-Forwarded-For, {self._trusted_proxies} trusted"
            f" prox{'y' if self._trusted_proxies == 1 else 'ies'}"
        )
        if not address:
            return f"no client address to check ({source})"
        return f"client address {printable(address, 60)} ({source}) is not in the allowlist"

    def _check(self, text: str | None) -> bool:
        # Addresses are not secret: stopping at the first match is fine.
        return any(
            address in network for address in _parse_address(text) for network in self._networks
        )

    def __repr__(self) -> str:
        networks = [str(network) for network in self._networks]
        return f"IpAllowlist({networks!r}, trusted_proxies={self._trusted_proxies})"


def _client_address(request: WebhookRequest, trusted_proxies: int) -> str | None:
    """The client's address as sent, or ``None`` when there is none to trust.

    With no trusted proxy it is the connecting peer; ``X-Forwarded-For`` is ignored, since any
    client can send one. With ``N`` trusted proxies it is the ``N``-th entry from the right of
    ``X-Forwarded-For`` (every value joined), the one the outermost trusted proxy wrote.
    """
    if trusted_proxies == 0:
        return request.client_ip
    forwarded = request.header_values("x-forwarded-for")
    joined = forwarded[0] if len(forwarded) == 1 else ",".join(forwarded)
    entries = joined.rsplit(",", trusted_proxies)  # only the right-most N are split off
    if not forwarded or len(entries) < trusted_proxies:
        return None
    return entries[-trusted_proxies].strip()


def _parse_address(text: str | None) -> tuple[_IpAddress, ...]:
    """The address (and its IPv4 form when it is IPv4-mapped); empty when missing or invalid."""
    if not text:
        return ()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return ()
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return (address, address.ipv4_mapped)
    return (address,)
