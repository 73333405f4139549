"""Verifiers: right credentials pass; missing, wrong and malformed ones fail; nothing leaks."""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Iterable, Mapping
from typing import Any, cast

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from idwise_events import (
    AllOf,
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    IpAllowlist,
    NoAuth,
    VerificationError,
    Verifier,
    WebhookRequest,
)

from .conftest import CANARY

pytestmark = pytest.mark.usefixtures("no_canary_in_logs")

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


def request(headers: Headers = (), client_ip: str | None = None) -> WebhookRequest:
    return WebhookRequest(b'{"event": "Finished Journey", "body": {}}', headers, client_ip)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def with_stray_bits(header: str) -> str:
    """The same bytes in non-canonical base64: unused low bits of the last character set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    assert header.endswith("==")  # one byte in the last group: 4 unused bits
    last = header[-3]
    changed = header[:-3] + alphabet[alphabet.index(last) | 0b0001] + "=="
    assert changed != header
    assert base64.b64decode(changed[6:]) == base64.b64decode(header[6:])
    return changed


def refused(verifier: Verifier, req: WebhookRequest) -> VerificationError:
    """Assert ``verifier`` refuses ``req`` cleanly and return the error for further checks."""
    with pytest.raises(VerificationError) as caught:
        verifier.verify(req)
    error = caught.value
    # Nothing chained: a chained decode error would carry the raw header in its attributes.
    assert error.__cause__ is None
    assert error.__context__ is None
    assert CANARY not in "".join(traceback.format_exception(error))
    return error


# -- NoAuth -------------------------------------------------------------------------------------


def test_no_auth_accepts_anything_and_warns_once_when_built(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """NoAuth lets every request through and says so in one warning on construction."""
    verifier = NoAuth()
    verifier.verify(request())
    verifier.verify(request({"Authorization": "Bearer whatever"}, client_ip="192.0.2.1"))

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].name == "idwise_events"
    assert "unauthenticated" in warnings[0].getMessage()
    assert "IpAllowlist" in warnings[0].getMessage()
    assert repr(verifier) == "NoAuth()"


# -- BasicAuth ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "password", "header"),
    [
        ("idwise", CANARY, basic("idwise", CANARY)),
        ("idwise", "a:b:c", basic("idwise", "a:b:c")),  # split at the first colon
        ("idwisé", "pässwörd ✓", basic("idwisé", "pässwörd ✓")),  # UTF-8
        ("idwise", CANARY, "basic " + basic("idwise", CANARY)[6:]),  # scheme case
        ("idwise", CANARY, "BASIC   " + basic("idwise", CANARY)[6:]),  # several spaces
        ("idwise", CANARY, " " + basic("idwise", CANARY) + " \t"),  # spaces around the value
    ],
)
def test_basic_auth_accepts_the_configured_pair(username: str, password: str, header: str) -> None:
    """The right pair passes, whatever the scheme's case, with colons and non-ASCII in it."""
    BasicAuth(username, password).verify(request({"Authorization": header}))
    BasicAuth(username, password).verify(request([("authorization", header)]))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": basic("idwise", "wrong")},
        {"Authorization": basic("someone", CANARY)},
        {"Authorization": basic("idwise", CANARY + "x")},
        {"Authorization": basic("idwise", CANARY[:-1])},
        {"Authorization": basic("idwise:" + CANARY, "")},
        {"Authorization": "Bearer " + basic("idwise", CANARY)[6:]},  # wrong scheme
        {"Authorization": "Basic"},  # no credentials
        {"Authorization": "Basic "},  # empty credentials
        {"Authorization": "Basic" + basic("idwise", CANARY)[6:]},  # no space after the scheme
        {"Authorization": "Basic !!!notbase64!!!"},
        {"Authorization": "Basic " + base64.b64encode(b"idwise").decode()},  # no colon
        {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\x80").decode()},  # not UTF-8
        {"Authorization": basic("idwise", CANARY).rstrip("=")},  # padding removed
        {"Authorization": with_stray_bits(basic("idwise", CANARY))},  # decodes to the same pair
        {"Authorization": "Basic aWR3aXNl\nOkNBTkFSWQ=="},  # whitespace inside
        {"Authorization": "Basic é" + basic("idwise", CANARY)[6:]},  # non-ASCII
        {"Authorization": "Basic \ud800"},  # a lone surrogate, as a server may decode it
        {"X-Authorization": basic("idwise", CANARY)},
    ],
)
def test_basic_auth_refuses_missing_wrong_and_malformed_credentials(headers: Headers) -> None:
    """Anything but the exact configured pair raises VerificationError, and nothing else."""
    error = refused(BasicAuth("idwise", CANARY), request(headers))

    assert str(error) == "missing or invalid credentials"


def test_basic_auth_refuses_a_header_repeated_with_different_values() -> None:
    """Two different Authorization values are ambiguous, even if one of them is right."""
    verifier = BasicAuth("idwise", CANARY)
    right, wrong = basic("idwise", CANARY), basic("idwise", "nope")

    refused(verifier, request([("Authorization", right), ("Authorization", wrong)]))
    refused(verifier, request([("Authorization", wrong), ("authorization", right)]))
    verifier.verify(request([("Authorization", right), ("AUTHORIZATION", right)]))


def test_basic_auth_accepts_every_rotated_pair() -> None:
    """During a rotation, each configured pair passes and others still fail."""
    verifier = BasicAuth(credentials=[("new-user", "new-pass"), ("old-user", CANARY)])

    verifier.verify(request({"Authorization": basic("new-user", "new-pass")}))
    verifier.verify(request({"Authorization": basic("old-user", CANARY)}))
    refused(verifier, request({"Authorization": basic("new-user", CANARY)}))
    refused(verifier, request({"Authorization": basic("old-user", "new-pass")}))
    assert repr(verifier) == "BasicAuth(<2 credentials>)"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "no credentials given"),
        (("idwise",), {}, "must be given together"),
        ((None, CANARY), {}, "must be given together"),
        (("idwise", CANARY), {"credentials": [("a", "b")]}, "not both"),
        ((), {"credentials": []}, "no credentials given"),
        (("", CANARY), {}, "username must not be empty"),
        (("idwise", ""), {}, "password must not be empty"),
        (("idwise", "  \t"), {}, "password must not be empty"),
        (("id:wise", CANARY), {}, "must not contain ':'"),
        (("idwise", CANARY + "\ud800"), {}, "password must be valid Unicode"),
        ((), {"credentials": [("a", "b"), ("c", " ")]}, "password must not be empty"),
        ((), {"credentials": ("ab", "cd")}, r"must be \(username, password\) pairs"),
        ((), {"credentials": [("a", "b", "c")]}, r"must be \(username, password\) pairs"),
    ],
)
def test_basic_auth_configuration_errors_are_clear_and_never_show_the_secret(
    args: tuple[str | None, ...], kwargs: dict[str, Any], message: str
) -> None:
    """A missing, empty or unusable username or password is refused when the verifier is built."""
    with pytest.raises(ValueError, match=message) as caught:
        BasicAuth(*args, **kwargs)

    assert "BasicAuth" in str(caught.value)
    assert CANARY not in str(caught.value)


# -- BearerAuth ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {CANARY}",
        f"bearer {CANARY}",
        f"BEARER {CANARY}",
        f"Bearer    {CANARY}",
        f"Bearer {CANARY} ",  # werkzeug keeps the spaces around a value; other servers do not
        f"\tBearer {CANARY}\t",
    ],
)
def test_bearer_auth_accepts_the_token_whatever_the_scheme_case(header: str) -> None:
    """The scheme is case-insensitive and may be followed by several spaces.

    Spaces and tabs around the value are not part of it (RFC 9110 5.5), whatever the server.
    """
    BearerAuth(CANARY).verify(request({"Authorization": header}))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer    "},
        {"Authorization": CANARY},
        {"Authorization": f"Token {CANARY}"},
        {"Authorization": f"Bearer{CANARY}"},
        {"Authorization": f"Bearer {CANARY[:-1]}"},
        {"Authorization": f"Bearer {CANARY}x"},
        {"Authorization": f"Bearer {CANARY.lower()}"},
        {"Authorization": f"Bearer {CANARY}, Bearer {CANARY}"},
        {"Authorization": f"Bearer \ud800{CANARY}"},
        {"Authorization": basic("Bearer", CANARY)},
        {"X-Token": CANARY},
        [("Authorization", f"Bearer {CANARY}"), ("Authorization", "Bearer other")],
    ],
)
def test_bearer_auth_refuses_missing_wrong_and_malformed_tokens(headers: Headers) -> None:
    """Only the exact token after a Bearer scheme passes; everything else is a VerificationError."""
    error = refused(BearerAuth(CANARY), request(headers))

    assert str(error) == "missing or invalid credentials"


def test_bearer_auth_accepts_every_rotated_token() -> None:
    """Old and new tokens both pass during a rotation; the repr counts them."""
    verifier = BearerAuth(["new-token", CANARY])

    verifier.verify(request({"Authorization": "Bearer new-token"}))
    verifier.verify(request({"Authorization": f"Bearer {CANARY}"}))
    refused(verifier, request({"Authorization": "Bearer other-token"}))
    assert repr(verifier) == "BearerAuth(<2 tokens>)"
    assert repr(BearerAuth(CANARY)) == "BearerAuth(<1 token>)"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ([], "no token given"),
        ([CANARY, ""], "must not be empty"),
        (f" {CANARY}", "must not start or end with whitespace"),
        (f"{CANARY}\n", "must not start or end with whitespace"),
        (f"{CANARY} {CANARY}", "must not contain whitespace$"),
        (f"Bearer {CANARY}", "whitespace: give the token without the 'Bearer ' that precedes it"),
        (f"{CANARY}\x00", "control characters"),
    ],
)
def test_bearer_auth_configuration_errors_never_show_the_token(
    token: str | list[str], message: str
) -> None:
    """Tokens that could not be sent in a header are refused at construction, by description."""
    with pytest.raises(ValueError, match=message) as caught:
        BearerAuth(token)

    assert CANARY not in str(caught.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda secret: BearerAuth(secret),
        lambda secret: BearerAuth(["ascii-token", secret]),
        lambda secret: HeaderAuth({"X-Api-Key": secret}),
        lambda secret: HeaderAuth({"X-Api-Key": ["ascii-value", secret]}),
    ],
    ids=["bearer", "rotated bearer", "header", "rotated header"],
)
@pytest.mark.parametrize("secret", [f"{CANARY}é", f"t\u00f6k\u00e9n-{CANARY}", f"{CANARY}\u2713"])
def test_non_ascii_header_secrets_are_refused_at_construction(make: Any, secret: str) -> None:
    """A non-ASCII Bearer token or header value (servers could never present it) is refused."""
    with pytest.raises(ValueError, match="must be printable ASCII") as caught:
        make(secret)

    assert CANARY not in str(caught.value)
    assert secret not in str(caught.value)


def test_why_non_ascii_header_secrets_cannot_match() -> None:
    """WSGI and Starlette decode header bytes as latin-1: UTF-8 'tökén' arrives as 'tÃ¶kÃ©n'."""
    as_presented = "Bearer tökén".encode().decode("latin-1")
    assert as_presented != "Bearer tökén"
    verifier = BearerAuth("ascii-token")
    refused(verifier, request({"Authorization": as_presented}))


def test_non_ascii_basic_credentials_match_as_a_server_presents_them() -> None:
    """Basic credentials travel as base64 (ASCII), so non-ASCII pairs survive latin-1 decoding."""
    header = basic("idwisé", "pässwörd")
    as_presented = header.encode("latin-1").decode("latin-1")  # what WSGI/ASGI hand over

    BasicAuth("idwisé", "pässwörd").verify(request({"Authorization": as_presented}))


def test_bearer_auth_refuses_a_token_that_is_not_text() -> None:
    """Bytes are not silently turned into something else."""
    with pytest.raises(TypeError, match="must be a str, not int"):
        BearerAuth(cast(Any, b"token"))


# -- HeaderAuth ---------------------------------------------------------------------------------


def test_header_auth_needs_every_configured_header_whatever_the_name_case() -> None:
    """All configured headers must be present with their values; names ignore case."""
    verifier = HeaderAuth({"X-Api-Key": CANARY, "X-Tenant": "acme"})

    verifier.verify(request({"x-api-key": CANARY, "X-TENANT": "acme", "Other": "1"}))
    verifier.verify(request([("X-API-KEY", CANARY), ("x-tenant", "acme")]))
    refused(verifier, request({"X-Api-Key": CANARY}))
    refused(verifier, request({"X-Tenant": "acme"}))
    refused(verifier, request({"X-Api-Key": CANARY, "X-Tenant": "ACME"}))
    verifier.verify(request({"X-Api-Key": f"{CANARY} ", "X-Tenant": "\tacme"}))  # RFC 9110 5.5
    refused(verifier, request({"X-Api-Key": f"{CANARY}x", "X-Tenant": "acme"}))
    refused(verifier, request({"X-Api-Key": "", "X-Tenant": "acme"}))
    refused(verifier, request())


def test_header_auth_accepts_every_rotated_value() -> None:
    """A header configured with a list accepts each of its values."""
    verifier = HeaderAuth({"X-Api-Key": ["new-key", CANARY]})

    verifier.verify(request({"X-Api-Key": "new-key"}))
    verifier.verify(request({"X-Api-Key": CANARY}))
    refused(verifier, request({"X-Api-Key": "old-key"}))
    assert repr(verifier) == "HeaderAuth(headers=['X-Api-Key'])"


def test_header_auth_refuses_a_header_repeated_with_different_values() -> None:
    """Repeating a header with the same value is harmless; with another value it fails."""
    verifier = HeaderAuth({"X-Api-Key": CANARY})

    verifier.verify(request([("X-Api-Key", CANARY), ("x-api-key", CANARY)]))
    refused(verifier, request([("X-Api-Key", CANARY), ("x-api-key", "other")]))
    refused(verifier, request([("X-Api-Key", "other"), ("x-api-key", CANARY)]))


class RecordingRequest(WebhookRequest):
    """A real request that also notes which headers were looked up."""

    __slots__ = ("looked_up",)

    def __init__(self, headers: Headers) -> None:
        super().__init__(b"", headers)
        self.looked_up: list[str] = []

    def header_values(self, name: str) -> tuple[str, ...]:
        self.looked_up.append(name.lower())
        return super().header_values(name)


def test_header_auth_checks_every_header_even_after_one_failed() -> None:
    """No early exit: the timing must not tell which header was wrong."""
    verifier = HeaderAuth({"A": "1", "B": "2", "C": "3"})
    req = RecordingRequest({"B": "2"})

    error = refused(verifier, req)

    assert req.looked_up[:3] == ["a", "b", "c"]
    assert error.reason == "no A header; no C header"


def test_a_refusals_reason_costs_the_same_work_whichever_part_failed() -> None:
    """The reason for the log reads every header of every part, refused or not, in one order."""
    for headers in ({"A": "1", "B": "wrong"}, {"A": "wrong", "B": "2"}, {"A": "x", "B": "y"}):
        req = RecordingRequest({**headers, "Authorization": "Bearer nope"})
        refused(HeaderAuth({"A": "1", "B": "2"}) & BearerAuth(CANARY), req)
        assert req.looked_up == LOOKUPS_OF_A_REFUSAL


LOOKUPS_OF_A_REFUSAL = [
    "a", "b", "authorization",  # the decision: every part, constant time
    "a", "a", "b", "b",  # HeaderAuth's reason: each header's check, then what is wrong with it
    "authorization", "authorization",  # BearerAuth's reason: the scheme, then the token
]  # fmt: skip


@pytest.mark.parametrize(
    ("verifier", "headers", "client_ip", "reason"),
    [
        (BearerAuth(CANARY), {}, None, "no Authorization header"),
        (BearerAuth(CANARY), {"Authorization": f"Token {CANARY}"}, None, "is not Bearer"),
        (BearerAuth(CANARY), {"Authorization": "Bearer "}, None, "has no Bearer credentials"),
        (BearerAuth(CANARY), {"Authorization": "Bearer nope"}, None, "not one of those"),
        (
            BearerAuth(CANARY),
            [("Authorization", "Bearer a"), ("Authorization", "Bearer b")],
            None,
            "Authorization sent 2 times with different values",
        ),
        (BasicAuth("u", CANARY), {"Authorization": "Basic !!"}, None, "not canonical base64"),
        (BasicAuth("u", CANARY), {"Authorization": basic("u", "no")}, None, "not one of the pairs"),
        (HeaderAuth({"X-Key": CANARY}), {"X-Key": "no"}, None, "X-Key is not one of the values"),
        (IpAllowlist(["10.0.0.0/8"]), {}, "198.51.100.7", "198.51.100.7 (the connecting peer)"),
        (
            IpAllowlist(["10.0.0.0/8"], trusted_proxies=1),
            {"X-Forwarded-For": "198.51.100.7\x1b[2J"},
            "10.0.0.1",
            "198.51.100.7\\x1b[2J (X-Forwarded-For, 1 trusted proxy) is not in the allowlist",
        ),
        (
            BearerAuth(CANARY) & IpAllowlist(["10.0.0.0/8"]),
            {"Authorization": "Bearer nope"},
            "198.51.100.7",
            "not one of those configured; client address 198.51.100.7",
        ),
    ],
)
def test_a_refusal_says_why_in_its_reason_never_in_its_message(
    verifier: Verifier, headers: Headers, client_ip: str | None, reason: str
) -> None:
    """The reason is for the server's log: what failed, never a secret or a header's value."""
    error = refused(verifier, WebhookRequest(b"", headers, client_ip))

    assert reason in error.reason
    assert CANARY not in error.reason
    assert "nope" not in error.reason
    assert error.reason not in str(error)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "no headers given"),
        ({"X Api Key": CANARY}, "not a valid HTTP header name"),
        ({"X-Api-Key:": CANARY}, "not a valid HTTP header name"),
        ({"": CANARY}, "not a valid HTTP header name"),
        ({"X-Ä": CANARY}, "not a valid HTTP header name"),
        ({"X-Api-Key": CANARY, "x-api-key": CANARY}, "given twice"),
        ({"X-Api-Key": []}, "no value given for header 'X-Api-Key'"),
        ({"X-Api-Key": ""}, "value of 'X-Api-Key' must not be empty"),
        ({"X-Api-Key": [CANARY, " "]}, "must not be empty"),
        ({"X-Api-Key": f"{CANARY} "}, "must not start or end with whitespace"),
        ({"X-Api-Key": f"{CANARY}\r\nX-Evil: 1"}, "control characters"),
    ],
)
def test_header_auth_configuration_errors_name_the_header_never_the_value(
    headers: dict[str, str | list[str]], message: str
) -> None:
    """Bad header names and empty or unsendable values are refused at construction."""
    with pytest.raises(ValueError, match=message) as caught:
        HeaderAuth(headers)

    assert CANARY not in str(caught.value)


# -- AllOf and & --------------------------------------------------------------------------------


def test_and_builds_a_flat_all_of() -> None:
    """`a & b & c` and nested AllOf give one AllOf of the three, in order."""
    a, b, c = BearerAuth(CANARY), HeaderAuth({"X-Tenant": "acme"}), IpAllowlist(["192.0.2.0/24"])

    assert (a & b & c).verifiers == (a, b, c)
    assert AllOf(a, AllOf(b, c)).verifiers == (a, b, c)
    assert (a & (b & c)).verifiers == (a, b, c)


COMBINED_HEADERS = {"Authorization": f"Bearer {CANARY}", "X-Tenant": "acme"}


@pytest.mark.parametrize(
    ("headers", "client_ip"),
    [
        ({"X-Tenant": "acme"}, "192.0.2.7"),
        ({"Authorization": f"Bearer {CANARY}"}, "192.0.2.7"),
        (COMBINED_HEADERS, "198.51.100.7"),
        ({}, None),
    ],
    ids=["no-token", "no-header", "wrong-ip", "nothing"],
)
def test_all_of_needs_every_part_and_never_says_which_failed(
    headers: dict[str, str], client_ip: str | None
) -> None:
    """Each part missing on its own fails, always with the same generic message."""
    verifier = BearerAuth(CANARY) & HeaderAuth({"X-Tenant": "acme"}) & IpAllowlist(["192.0.2.0/24"])

    verifier.verify(request(COMBINED_HEADERS, client_ip="192.0.2.7"))
    error = refused(verifier, request(headers, client_ip))
    assert str(error) == "missing or invalid credentials"


class RecordingVerifier:
    """A verifier of the user's own, which notes that it ran and accepts everything."""

    def __init__(self) -> None:
        self.calls = 0

    def verify(self, request: WebhookRequest) -> None:
        self.calls += 1


def test_all_of_runs_every_part_even_after_one_failed() -> None:
    """The parts after a failing one still run, so timing does not reveal which one failed."""
    recorder = RecordingVerifier()
    verifier = BearerAuth(CANARY) & recorder

    refused(verifier, request())

    assert recorder.calls == 1


def test_own_verifiers_combine_on_either_side() -> None:
    """A user's verifier combines with ours with `&`, in either order."""
    mine, ours = RecordingVerifier(), BearerAuth(CANARY)

    assert (mine & ours).verifiers == (mine, ours)
    assert (ours & mine).verifiers == (ours, mine)


def test_all_of_refuses_nothing_and_non_verifiers() -> None:
    """An empty AllOf would accept everything, and a non-verifier cannot verify."""
    with pytest.raises(ValueError, match="no verifiers given"):
        AllOf()
    with pytest.raises(TypeError, match="str is not a Verifier"):
        AllOf(cast(Any, "Bearer token"))


def test_verifier_protocol_recognises_every_verifier() -> None:
    """Every verifier, the library's and a user's own, is a `Verifier`."""
    verifiers = [
        NoAuth(),
        BasicAuth("idwise", CANARY),
        BearerAuth(CANARY),
        HeaderAuth({"X-Api-Key": CANARY}),
        IpAllowlist(["192.0.2.0/24"]),
        AllOf(BearerAuth(CANARY)),
        RecordingVerifier(),
    ]
    assert all(isinstance(verifier, Verifier) for verifier in verifiers)
    assert not isinstance(object(), Verifier)


# -- secrets never leak -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "verifier",
    [
        BasicAuth("idwise", CANARY),
        BasicAuth(CANARY, "password"),
        BearerAuth([CANARY, CANARY + "2"]),
        HeaderAuth({"X-Api-Key": CANARY}),
        BearerAuth(CANARY) & HeaderAuth({"X-Api-Key": [CANARY]}),
    ],
    ids=repr,
)
def test_secrets_never_appear_in_repr_str_or_errors(verifier: Verifier) -> None:
    """Neither the verifier's repr/str nor its errors, for any input, show a secret."""
    assert CANARY not in repr(verifier)
    assert CANARY not in str(verifier)
    for headers in [{}, {"Authorization": f"Bearer {CANARY}x"}, {"Authorization": "Basic %%%"}]:
        error = refused(verifier, request(headers))
        assert CANARY not in str(error)
        assert CANARY not in repr(error)


# -- property: changing any byte of any credential fails ----------------------------------------

# Secrets as a portal would accept them and a server could present them: printable ASCII, no
# whitespace. Replacement characters are anything Python can hold, lone surrogates included.
header_secrets = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1)
replacements = st.characters()


def mutate(text: str, data: st.DataObject) -> str:
    """``text`` with the character at one drawn position replaced by a different one."""
    index = data.draw(st.integers(0, len(text) - 1), label="index")
    char = data.draw(replacements.filter(lambda c: c != text[index]), label="char")
    return text[:index] + char + text[index + 1 :]


def mutate_bytes(raw: bytes, data: st.DataObject) -> bytes:
    """``raw`` with one drawn byte replaced by a different byte value."""
    index = data.draw(st.integers(0, len(raw) - 1), label="index")
    value = data.draw(st.integers(0, 255).filter(lambda v: v != raw[index]), label="byte")
    return raw[:index] + bytes([value]) + raw[index + 1 :]


@given(token=header_secrets, data=st.data())
def test_changing_any_character_of_a_bearer_token_fails(token: str, data: st.DataObject) -> None:
    """A presented token, or a configured one, that differs in one character never passes."""
    presented = {"Authorization": f"Bearer {token}"}
    BearerAuth(token).verify(request(presented))

    with pytest.raises(VerificationError):
        BearerAuth(token).verify(request({"Authorization": f"Bearer {mutate(token, data)}"}))
    try:
        changed = BearerAuth(mutate(token, data))
    except ValueError:
        assume(False)  # the change made it an invalid token: refused at construction instead
    with pytest.raises(VerificationError):
        changed.verify(request(presented))


@given(name=st.sampled_from(["X-Api-Key", "x-tenant"]), value=header_secrets, data=st.data())
def test_changing_any_character_of_a_custom_header_fails(
    name: str, value: str, data: st.DataObject
) -> None:
    """A custom header value, presented or configured, that differs in one character fails."""
    HeaderAuth({name: value}).verify(request({name: value}))

    with pytest.raises(VerificationError):
        HeaderAuth({name: value}).verify(request({name: mutate(value, data)}))
    try:
        changed = HeaderAuth({name: mutate(value, data)})
    except ValueError:
        assume(False)  # the change made the value unsendable: refused at construction instead
    with pytest.raises(VerificationError):
        changed.verify(request({name: value}))


basic_usernames = st.text(st.characters(codec="utf-8", exclude_characters=":"), min_size=1)
basic_passwords = st.text(st.characters(codec="utf-8"), min_size=1)


@given(username=basic_usernames, password=basic_passwords, data=st.data())
def test_changing_any_byte_of_basic_credentials_fails(
    username: str, password: str, data: st.DataObject
) -> None:
    """One changed byte in the decoded pair, the base64 text or the configured pair fails."""
    assume(username.strip() and password.strip())
    verifier = BasicAuth(username, password)
    header = basic(username, password)
    verifier.verify(request({"Authorization": header}))

    pair = f"{username}:{password}".encode()
    changed_pair = base64.b64encode(mutate_bytes(pair, data)).decode()
    with pytest.raises(VerificationError):
        verifier.verify(request({"Authorization": f"Basic {changed_pair}"}))
    with pytest.raises(VerificationError):
        verifier.verify(request({"Authorization": f"Basic {mutate(header[6:], data)}"}))

    which = data.draw(st.sampled_from(["username", "password"]), label="which")
    try:
        if which == "username":
            changed = BasicAuth(mutate(username, data), password)
        else:
            changed = BasicAuth(username, mutate(password, data))
    except ValueError:
        assume(False)  # e.g. a colon put in the username: refused at construction instead
    with pytest.raises(VerificationError):
        changed.verify(request({"Authorization": header}))


def test_configured_credentials_can_be_read_back_but_stay_secret() -> None:
    """credentials, tokens and headers give every accepted value, current first, as SecretStr."""
    basic = BasicAuth(credentials=[("idwise", CANARY), ("idwise", "old-password")])
    bearer = BearerAuth([CANARY, "old-token"])
    headers = HeaderAuth({"X-Api-Key": [CANARY, "old-key"], "X-Tenant": "acme"})

    assert [(u.get_secret_value(), p.get_secret_value()) for u, p in basic.credentials] == [
        ("idwise", CANARY),
        ("idwise", "old-password"),
    ]
    assert [token.get_secret_value() for token in bearer.tokens] == [CANARY, "old-token"]
    assert {
        name: [v.get_secret_value() for v in values] for name, values in headers.headers.items()
    } == {
        "X-Api-Key": [CANARY, "old-key"],
        "X-Tenant": ["acme"],
    }
    shown = repr((basic.credentials, bearer.tokens, dict(headers.headers)))
    assert CANARY not in shown
