"""WebhookRequest and WebhookResponse: header lookup, cheap construction, reprs without secrets."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, cast

import pytest

from idwise_events import (
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    IpAllowlist,
    VerificationError,
    Verifier,
    WebhookRequest,
    WebhookResponse,
)

CANARY = "CANARY-s3cr3t-9f2b"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {CANARY}", "Content-Type": "application/json"},
        MappingProxyType({"AUTHORIZATION": f"Bearer {CANARY}", "content-type": "application/json"}),
        [("authorization", f"Bearer {CANARY}"), ("Content-Type", "application/json")],
        (("Authorization", f"Bearer {CANARY}"), ("CONTENT-TYPE", "application/json")),
        [(b"AuthoriZation", f"Bearer {CANARY}".encode()), (b"Content-Type", b"application/json")],
    ],
    ids=["dict", "mapping", "list-of-pairs", "tuple-of-pairs", "bytes-pairs"],
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
    """A one-shot iterator of pairs is kept, so every lookup still sees its headers."""

    def pairs() -> Iterator[tuple[str, str]]:
        yield ("X-Api-Key", CANARY)

    request = WebhookRequest(b"", pairs())

    assert request.header("x-api-key") == CANARY
    assert request.header_values("X-API-KEY") == (CANARY,)
    assert repr(request).endswith("headers=<1 headers>, client_ip=None)")


def test_construction_keeps_body_and_client_address_and_reads_headers_on_demand() -> None:
    """Headers are read when looked up: three lookups scan, the fourth indexes them all, once."""
    headers = {"A": "1"}
    request = WebhookRequest(b"body", headers, client_ip="203.0.113.9")

    assert request.body == b"body"
    assert request.client_ip == "203.0.113.9"
    headers["B"] = "2"  # not read yet: lookups see what is there when they happen
    assert request.header("b") == "2"  # the first three lookups: a scan for their one name
    assert request.header("a") == "1"
    assert request.header("x") is None
    headers["C"] = "3"
    assert request.header("c") == "3"  # the fourth: every header indexed, once
    headers["D"] = "4"
    assert request.header("d") is None


@pytest.mark.parametrize("body", [bytearray(b"{}"), memoryview(b"{}")])
def test_a_bytes_like_body_becomes_bytes(body: bytearray | memoryview) -> None:
    """Framework buffers (bytearray, memoryview) become the immutable bytes verifiers hash."""
    request = WebhookRequest(body)

    assert request.body == b"{}"
    assert type(request.body) is bytes


def test_bytes_header_pairs_are_read_as_latin_1() -> None:
    """ASGI's raw header pairs are bytes: names and values read as latin-1, as servers do."""
    request = WebhookRequest(
        b"",
        [(b"authorization", b"Bearer t\xf6k"), (b"X-Forwarded-For", b"203.0.113.9")],
    )

    assert request.header("Authorization") == "Bearer t\u00f6k"
    assert request.header_values("x-forwarded-for") == ("203.0.113.9",)


def test_a_bytes_header_name_beyond_ascii_is_found_by_its_latin_1_text() -> None:
    """A name with a latin-1 letter matches its text in any case, as with str pairs."""
    request = WebhookRequest(b"", [(b"X-\xc9t\xe9", b"1"), (b"x-\xe9t\xe9", b"2")])

    assert request.header_values("x-\u00e9t\u00e9") == ("1", "2")
    assert request.header_values("X-\u00c9T\u00c9") == ("1", "2")


def test_header_values_that_are_not_text_are_ignored_not_raised_on() -> None:
    """A WSGI environ or a sloppy mapping may hold other objects: they count as absent headers.

    Verifiers promise to raise only VerificationError, so the request never hands them anything
    but text.
    """
    environ_like: dict[str, Any] = {
        "wsgi.input": object(),
        "X-Count": 5,
        "X-List": ["a"],
        "Authorization": "Bearer ok",
    }
    request = WebhookRequest(b"", environ_like)

    assert request.header("x-count") is None
    assert request.header_values("x-list") == ()
    assert request.header("wsgi.input") is None
    assert request.header("authorization") == "Bearer ok"


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

    assert (response.status, response.body, dict(response.headers)) == (200, b"", {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cast(Any, response).status = 500
    with pytest.raises(TypeError):  # the default headers cannot be filled in by one response
        cast(Any, response.headers)["X-A"] = "b"
    assert dict(other.headers) == {}


@pytest.mark.parametrize(
    "verifier",
    [
        BearerAuth(CANARY),
        BasicAuth("idwise", CANARY),
        HeaderAuth({"X-Api-Key": CANARY}),
        IpAllowlist(["203.0.113.0/24"], trusted_proxies=1),
    ],
    ids=lambda verifier: type(verifier).__name__,
)
@pytest.mark.parametrize(
    "value", [b"\xff\xfe", 5, ["Bearer x"], None, object()], ids=lambda value: type(value).__name__
)
def test_verifiers_given_headers_that_are_not_text_raise_only_verification_error(
    verifier: Verifier, value: object
) -> None:
    """Whatever objects the headers hold, a verifier raises VerificationError and nothing else."""
    headers = {"Authorization": value, "X-Api-Key": value, "X-Forwarded-For": value}

    with pytest.raises(VerificationError):
        verifier.verify(WebhookRequest(b"{}", cast(dict[str, str], headers)))


def test_a_name_whose_lowered_form_is_longer_is_found_by_every_lookup() -> None:
    """Lowering "İ" gives two characters: scanning and indexing must agree all the same."""
    request = WebhookRequest(b"{}", {"X-\u0130d": "1"})
    assert [request.header("x-\u0130d") for _ in range(4)] == ["1"] * 4


def test_a_name_that_lowers_to_ascii_from_beyond_it_is_another_name() -> None:
    """A Kelvin sign lowers to "k": "X-Api-\u212aey" is not X-Api-Key, scanned or indexed."""
    request = WebhookRequest(b"{}", {"X-Api-\u212aey": "forged", "X-Api-Key": "real"})
    pairs = WebhookRequest(b"{}", [("X-Api-\u212aey", "forged")])

    assert [request.header_values("x-api-key") for _ in range(4)] == [("real",)] * 4
    assert [pairs.header("X-Api-Key") for _ in range(4)] == [None] * 4
