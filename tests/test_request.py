"""WebhookRequest and WebhookResponse: header lookup, cheap construction, reprs without secrets."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, cast

import pytest

from idwise_events import WebhookRequest, WebhookResponse

CANARY = "CANARY-s3cr3t-9f2b"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {CANARY}", "Content-Type": "application/json"},
        MappingProxyType({"AUTHORIZATION": f"Bearer {CANARY}", "content-type": "application/json"}),
        [("authorization", f"Bearer {CANARY}"), ("Content-Type", "application/json")],
        (("Authorization", f"Bearer {CANARY}"), ("CONTENT-TYPE", "application/json")),
    ],
    ids=["dict", "mapping", "list-of-pairs", "tuple-of-pairs"],
)
def test_header_lookup_ignores_case_for_mappings_and_pairs(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
) -> None:
    """`header()` finds a header whatever the case of the name, given as mapping or pairs."""
    request = WebhookRequest(b"{}", headers)

    assert request.header("authorization") == f"Bearer {CANARY}"
    assert request.header("Authorization") == f"Bearer {CANARY}"
    assert request.header("content-TYPE") == "application/json"
    assert request.header("x-missing") is None
    assert request.headers is headers


def test_repeated_headers_keep_every_value_in_order() -> None:
    """Pairs can repeat a header: `header()` gives the first value, `header_values()` all."""
    request = WebhookRequest(
        b"",
        [("X-Forwarded-For", "198.51.100.1"), ("x-forwarded-for", "203.0.113.9"), ("A", "1")],
    )

    assert request.header("X-FORWARDED-FOR") == "198.51.100.1"
    assert request.header_values("x-forwarded-for") == ("198.51.100.1", "203.0.113.9")
    assert request.header_values("a") == ("1",)
    assert request.header_values("missing") == ()


def test_an_iterator_of_pairs_is_kept_so_it_can_be_read_again() -> None:
    """A one-shot iterator of pairs is stored as a tuple, so lookups and `headers` still work."""

    def pairs() -> Iterator[tuple[str, str]]:
        yield ("X-Api-Key", CANARY)

    request = WebhookRequest(b"", pairs())

    assert request.header("x-api-key") == CANARY
    assert request.headers == (("X-Api-Key", CANARY),)
    assert request.header_values("X-API-KEY") == (CANARY,)


def test_construction_stores_what_it_was_given_without_indexing() -> None:
    """The constructor keeps body, headers and client address as given; no index until a lookup."""
    headers = {"A": "1"}
    request = WebhookRequest(b"body", headers, client_ip="203.0.113.9")

    assert request.body == b"body"
    assert request.headers is headers
    assert request.client_ip == "203.0.113.9"
    assert request._index is None  # built on the first lookup only
    request.header("a")
    assert request._index == {"a": ("1",)}


def test_defaults_are_no_headers_and_no_client_address() -> None:
    """Only the body is required."""
    request = WebhookRequest(b"x")

    assert request.header("authorization") is None
    assert request.client_ip is None
    assert repr(request) == "WebhookRequest(body=<1 bytes>, headers=<0 headers>, client_ip=None)"


def test_repr_shows_sizes_and_client_but_never_header_values() -> None:
    """The repr counts the body bytes and headers; header values carry secrets and stay out."""
    request = WebhookRequest(
        b"x" * 123,
        {"Authorization": f"Bearer {CANARY}", "X-Api-Key": CANARY, "A": "b", "C": "d"},
        client_ip="203.0.113.9",
    )

    text = repr(request)

    assert text == "WebhookRequest(body=<123 bytes>, headers=<4 headers>, client_ip='203.0.113.9')"
    assert CANARY not in str(request)


def test_request_has_no_per_instance_dict() -> None:
    """Slots only: no stray attributes can be added by mistake."""
    request = WebhookRequest(b"")

    with pytest.raises(AttributeError):
        cast(Any, request).extra = 1


def test_response_defaults_and_is_frozen() -> None:
    """A response needs only a status; body and headers default to empty and it is immutable."""
    response = WebhookResponse(200)
    other = WebhookResponse(200)

    assert (response.status, response.body, response.headers) == (200, b"", {})
    assert response.headers is not other.headers  # no shared mutable default
    with pytest.raises(dataclasses.FrozenInstanceError):
        cast(Any, response).status = 500
