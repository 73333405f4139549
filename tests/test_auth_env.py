"""verifier_from_env: each method from its variables, combinations, and refusing to guess."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from idwise_events import (
    AllOf,
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    IpAllowlist,
    NoAuth,
    VerificationError,
    WebhookRequest,
    verifier_from_env,
)
from idwise_events._auth_env import read_env

from .conftest import CANARY

pytestmark = pytest.mark.usefixtures("no_canary_in_logs")

P = "IDWISE_WEBHOOK_"


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_basic_auth_from_username_and_password() -> None:
    """The two Basic variables give a BasicAuth for that pair."""
    verifier = verifier_from_env({f"{P}BASIC_USERNAME": "idwise", f"{P}BASIC_PASSWORD": CANARY})

    assert isinstance(verifier, BasicAuth)
    verifier.verify(WebhookRequest(b"", {"Authorization": basic("idwise", CANARY)}))
    with pytest.raises(VerificationError):
        verifier.verify(WebhookRequest(b"", {"Authorization": basic("idwise", "other")}))


def test_bearer_tokens_are_comma_separated_for_rotation() -> None:
    """Each comma-separated token passes; spaces around the commas are ignored."""
    verifier = verifier_from_env({f"{P}BEARER_TOKEN": f"new-token , {CANARY}"})

    assert repr(verifier) == "BearerAuth(<2 tokens>)"
    verifier.verify(WebhookRequest(b"", {"Authorization": "Bearer new-token"}))
    verifier.verify(WebhookRequest(b"", {"Authorization": f"Bearer {CANARY}"}))


def test_custom_headers_are_a_json_object_with_lists_for_rotation() -> None:
    """IDWISE_WEBHOOK_HEADERS maps names to a value or a list of accepted values."""
    variable = json.dumps({"X-Api-Key": ["new-key", CANARY], "X-Tenant": "acme,inc=1"})

    verifier = verifier_from_env({f"{P}HEADERS": variable})

    assert repr(verifier) == "HeaderAuth(headers=['X-Api-Key', 'X-Tenant'])"
    verifier.verify(WebhookRequest(b"", {"X-Api-Key": CANARY, "X-Tenant": "acme,inc=1"}))
    with pytest.raises(VerificationError):
        verifier.verify(WebhookRequest(b"", {"X-Api-Key": CANARY}))


def test_ip_allowlist_with_trusted_proxies() -> None:
    """Comma-separated networks and a proxy count give an IpAllowlist."""
    verifier = verifier_from_env(
        {f"{P}IP_ALLOWLIST": "203.0.113.0/24, 2001:db8::/32", f"{P}TRUSTED_PROXIES": "1"}
    )

    assert repr(verifier) == "IpAllowlist(['203.0.113.0/24', '2001:db8::/32'], trusted_proxies=1)"
    verifier.verify(WebhookRequest(b"", {"X-Forwarded-For": "2001:db8::7"}, "10.0.0.2"))


def test_ip_allowlist_alone_needs_no_auth_none() -> None:
    """An allowlist on its own is a configured check (the portal's No Authentication plus IPs)."""
    verifier = verifier_from_env({f"{P}IP_ALLOWLIST": "203.0.113.0/24"})

    assert repr(verifier) == "IpAllowlist(['203.0.113.0/24'], trusted_proxies=0)"


def test_several_methods_must_all_pass() -> None:
    """Every configured method goes into one AllOf, in a fixed order."""
    verifier = verifier_from_env(
        {
            f"{P}IP_ALLOWLIST": "203.0.113.0/24",
            f"{P}HEADERS": json.dumps({"X-Api-Key": CANARY}),
            f"{P}BEARER_TOKEN": "token",
            f"{P}BASIC_USERNAME": "idwise",
            f"{P}BASIC_PASSWORD": "password",
        }
    )

    assert isinstance(verifier, AllOf)
    assert [type(part) for part in verifier.verifiers] == [
        BasicAuth,
        BearerAuth,
        HeaderAuth,
        IpAllowlist,
    ]


def test_auth_none_must_be_explicit_and_gives_no_auth(caplog: pytest.LogCaptureFixture) -> None:
    """IDWISE_WEBHOOK_AUTH=none (any case) gives NoAuth, which warns."""
    verifier = verifier_from_env({f"{P}AUTH": " None "})

    assert isinstance(verifier, NoAuth)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


def test_auth_none_with_an_allowlist_gives_only_the_allowlist() -> None:
    """No credentials but an IP allowlist: the allowlist is the whole check."""
    verifier = verifier_from_env({f"{P}AUTH": "none", f"{P}IP_ALLOWLIST": "203.0.113.0/24"})

    assert isinstance(verifier, IpAllowlist)


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an argument the process environment is read."""
    monkeypatch.setenv(f"{P}BEARER_TOKEN", CANARY)

    assert isinstance(verifier_from_env(), BearerAuth)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "no webhook authentication is configured"),
        ({"OTHER": "1"}, f"or {P}AUTH=none"),
        ({f"{P}BASIC_USERNAME": "idwise"}, "must be set together"),
        ({f"{P}BASIC_PASSWORD": CANARY}, "must be set together"),
        ({f"{P}BASIC_USERNAME": "", f"{P}BASIC_PASSWORD": CANARY}, "username must not be empty"),
        ({f"{P}BEARER_TOKEN": ""}, f"{P}BEARER_TOKEN: BearerAuth token must not be empty"),
        ({f"{P}BEARER_TOKEN": f"{CANARY},"}, f"{P}BEARER_TOKEN: .* must not be empty"),
        ({f"{P}HEADERS": f"X-Api-Key={CANARY}"}, f"{P}HEADERS: must be a JSON object"),
        ({f"{P}HEADERS": f'["{CANARY}"]'}, f"{P}HEADERS: must be a JSON object"),
        ({f"{P}HEADERS": '{"X-Api-Key": 1}'}, f"{P}HEADERS: must be a JSON object"),
        ({f"{P}HEADERS": json.dumps({"X Api Key": CANARY})}, "not a valid HTTP header name"),
        ({f"{P}BEARER_TOKEN": f"{CANARY}é"}, f"{P}BEARER_TOKEN: .* must be printable ASCII"),
        (
            {f"{P}HEADERS": json.dumps({"X-Api-Key": f"{CANARY}é"})},
            f"{P}HEADERS: .* must be printable ASCII",
        ),
        ({f"{P}IP_ALLOWLIST": "203.0.113.0/24,"}, f"{P}IP_ALLOWLIST: .*invalid network"),
        ({f"{P}TRUSTED_PROXIES": "1"}, f"{P}TRUSTED_PROXIES needs {P}IP_ALLOWLIST"),
        (
            {f"{P}IP_ALLOWLIST": "203.0.113.0/24", f"{P}TRUSTED_PROXIES": "one"},
            f"{P}TRUSTED_PROXIES: invalid literal",
        ),
        (
            {f"{P}IP_ALLOWLIST": "203.0.113.0/24", f"{P}TRUSTED_PROXIES": "-1"},
            f"{P}TRUSTED_PROXIES: must be 0 or more",
        ),
        ({f"{P}AUTH": "basic"}, f"{P}AUTH may only be 'none'"),
        ({f"{P}AUTH": "none", f"{P}BEARER_TOKEN": CANARY}, "contradicts"),
    ],
)
def test_missing_partial_and_invalid_configuration_is_refused(
    environ: dict[str, str], message: str
) -> None:
    """Nothing configured, half a pair or a bad value raises ValueError naming the variable."""
    with pytest.raises(ValueError, match=message) as caught:
        verifier_from_env(environ)

    assert CANARY not in str(caught.value)
    cause = caught.value.__cause__
    assert cause is None or CANARY not in str(cause)
    assert caught.value.__context__ is None or CANARY not in str(caught.value.__context__)


@pytest.mark.parametrize("nesting", ["[" * 100_000, '{"a": ' * 100_000], ids=["arrays", "objects"])
def test_deeply_nested_headers_json_is_a_value_error(nesting: str) -> None:
    """Headers JSON nested too deeply is the documented ValueError, not a RecursionError."""
    with pytest.raises(ValueError, match=f"{P}HEADERS: must be a JSON object") as caught:
        verifier_from_env({f"{P}HEADERS": nesting + CANARY})

    assert CANARY not in str(caught.value)
    assert not isinstance(caught.value.__context__, RecursionError)


@pytest.mark.parametrize(
    ("name", "named"),
    [
        (f"{P}TOKEN", f"{P}TOKEN (did you mean {P}BEARER_TOKEN?)"),
        ("idwise_webhook_bearer_token", f"(did you mean {P}BEARER_TOKEN?)"),
        (f"{P}BEARER", f"{P}BEARER (did you mean {P}BEARER_TOKEN?)"),
        (f"{P}SECRET_THING", f"{P}SECRET_THING"),
    ],
)
def test_nothing_configured_names_the_lookalike_variables_set(name: str, named: str) -> None:
    """A misspelt variable is named in the error (its name only, never its value)."""
    with pytest.raises(ValueError, match="no webhook authentication is configured") as caught:
        verifier_from_env({name: CANARY, "HOME": "/root", "PATH": "/bin"})

    assert named in str(caught.value)
    assert CANARY not in str(caught.value)
    assert "HOME" not in str(caught.value)


def test_a_misspelt_variable_beside_a_configured_method_is_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A misspelt allowlist beside a token would leave the allowlist off unseen: it is logged."""
    verifier = verifier_from_env({f"{P}BEARER_TOKEN": CANARY, f"{P}IP_ALLOWLST": "203.0.113.7"})

    assert isinstance(verifier, BearerAuth)
    [record] = caplog.records
    assert record.levelname == "WARNING"
    assert f"{P}IP_ALLOWLST (did you mean {P}IP_ALLOWLIST?)" in record.getMessage()
    assert "BearerAuth" in record.getMessage()
    assert CANARY not in record.getMessage()
    assert "203.0.113.7" not in record.getMessage()


def test_the_warning_of_no_auth_can_be_left_to_the_caller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """read_env(warn=False) builds a silent NoAuth (the Django checks say it); it still is one."""
    verifier, asked = read_env({f"{P}AUTH": "none"}, warn=False)

    assert isinstance(verifier, NoAuth)
    assert asked.no_auth
    assert repr(verifier) == "NoAuth()"
    assert caplog.records == []
