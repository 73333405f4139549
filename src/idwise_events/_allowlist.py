"""`IpAllowlist`: accept deliveries only from given networks, safely behind reverse proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from ._auth import _Combinable
from ._credentials import IpNetwork, client_addresses
from ._errors import VerificationError
from ._request import WebhookRequest

__all__ = ["IpAllowlist"]


class IpAllowlist(_Combinable):
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

    __slots__ = ("_networks", "_trusted_proxies")

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
        for address in client_addresses(request, self._trusted_proxies):
            for network in self._networks:  # addresses are not secret: stopping early is fine
                if address in network:
                    return
        raise VerificationError("client address is not allowed")

    def __repr__(self) -> str:
        networks = [str(network) for network in self._networks]
        return f"IpAllowlist({networks!r}, trusted_proxies={self._trusted_proxies})"
