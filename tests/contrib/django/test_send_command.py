"""manage.py idwise_events_send as IDWise sends: no redirect followed, URL credentials as Basic."""

from __future__ import annotations

import base64
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from ...cli.loopback import answering

SECRET = "CANARY-url-p@ss"  # noqa: S105 -- a throwaway credential for servers on loopback


def run(**options: Any) -> str:
    output = StringIO()
    call_command("idwise_events_send", stdout=output, **options)
    return output.getvalue()


@pytest.mark.parametrize("status", [301, 307, 308])
def test_a_redirect_fails_naming_where_it_points_and_is_not_followed(status: int) -> None:
    """The 3xx is the answer: the command fails, and the target never sees the credentials."""
    with (
        answering(200) as target,
        answering(status, location=target.url + "/in") as redirecting,
        pytest.raises(CommandError) as raised,
    ):
        run(url=redirecting.url + "/webhooks/idwise/")

    assert str(raised.value) == (
        f"the endpoint answered {status}: redirected to {target.url}/in: IDWise does not follow"
        " redirects (is --url right?)"
    )
    assert len(redirecting.requests) == 1
    assert target.requests == []


def test_credentials_in_the_url_go_as_basic_auth_and_are_never_printed(settings: Any) -> None:
    """The URL's user:password@ (percent-decoded) becomes the Authorization header."""
    settings.IDWISE_EVENTS = {"HEADER_AUTH": {"X-Api-Key": "k-1"}}

    with answering(200) as receiver:
        url = receiver.url.replace("http://", "http://idwise:CANARY-url-p%40ss@") + "/hook/"
        output = run(url=url)

    (method, path, headers, _body), *_ = receiver.requests
    assert (method, path) == ("POST", "/hook/")
    expected = base64.b64encode(f"idwise:{SECRET}".encode()).decode()
    assert headers["Authorization"] == f"Basic {expected}"
    assert headers["X-Api-Key"] == "k-1"
    assert output.splitlines()[0].endswith(f" to {receiver.url}/hook/")
    assert "CANARY" not in output


def test_credentials_in_the_url_and_in_the_settings_are_refused_without_echo() -> None:
    """The test project sends a Bearer Token: a URL with credentials is ambiguous, so refused."""
    with answering(200) as receiver:
        url = receiver.url.replace("http://", f"http://idwise:{SECRET}@")
        with pytest.raises(CommandError) as raised:
            run(url=url)

    assert str(raised.value) == (
        "--url holds credentials and IDWISE_EVENTS sets the Authorization header too: pick one"
    )
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": f"ftp://idwise:{SECRET}@127.0.0.1:9/"}, "--url must be an http:// or https://"),
        ({"url": "http://127.0.0.1:9/", "timeout": float("nan")}, "--timeout must be more than"),
        ({"url": "http://127.0.0.1:9/", "timeout": 1e12}, "--timeout must be more than"),
    ],
    ids=["not-http", "nan-timeout", "huge-timeout"],
)
def test_bad_options_are_one_clear_error_without_the_password(
    options: dict[str, Any], message: str
) -> None:
    """A URL that is not http(s), or a timeout out of range: a CommandError, no secret in it."""
    with pytest.raises(CommandError, match=message) as raised:
        run(**options)

    assert "CANARY" not in str(raised.value)


@pytest.mark.parametrize("written", ["Manually Reviewed", "manually-reviewed", "ManuallyReviewed"])
def test_the_event_type_is_taken_however_it_is_written(written: str) -> None:
    """As the command line's ``send`` takes it: case, spaces, dashes and underscores aside."""
    with answering(200) as receiver:
        output = run(url=receiver.url + "/hook/", event=written)

    assert output.splitlines()[0].startswith("sent Manually Reviewed ")
    (_method, _path, _headers, body), *_ = receiver.requests
    assert b'"event":"Manually Reviewed"' in body


def test_an_unknown_event_type_is_one_clear_error() -> None:
    with pytest.raises(CommandError, match="--event 'Manualy Reviewed' is not an IDWise event"):
        run(url="http://127.0.0.1:9/", event="Manualy Reviewed")
