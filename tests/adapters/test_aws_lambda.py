"""The AWS Lambda adapter's converters for REST v1, HTTP API v2 and function URL events."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from idwise_events import BearerAuth, Dispatcher, WebhookResponse
from idwise_events.adapters.aws_lambda import lambda_handler, to_response, to_webhook_request
from idwise_events.testing import auth_headers

from .conftest import lambda_event

VERIFIER = BearerAuth("lambda-token")
RAW = b' {"event" : "Finished Journey",\n "body": {}}\xff'


@pytest.mark.parametrize("shape", ["http-v2", "function-url"])
def test_a_base64_body_is_decoded_to_the_exact_bytes(shape: str) -> None:
    """HTTP API v2 and function URLs send the body base64-encoded: decoded byte for byte."""
    event = lambda_event(shape, "POST", RAW, {"Authorization": "Bearer t"})

    request = to_webhook_request(event)

    assert request.body == RAW
    assert request.header("authorization") == "Bearer t"
    assert request.client_ip == "203.0.113.7"


def test_a_rest_v1_event_keeps_repeated_headers_and_the_text_body() -> None:
    """REST v1: every multiValueHeaders value kept; a text body is its UTF-8; sourceIp the peer."""
    event: dict[str, Any] = {
        "httpMethod": "POST",
        "headers": {"X-Forwarded-For": "203.0.113.1"},
        "multiValueHeaders": {"X-Forwarded-For": ["198.51.100.1", "203.0.113.1"]},
        "body": '{"event": "Finished Journey", "body": {"referenceNo": "Zoë"}}',
        "isBase64Encoded": False,
        "requestContext": {"identity": {"sourceIp": "198.51.100.20"}},
    }

    request = to_webhook_request(event)

    assert request.body == '{"event": "Finished Journey", "body": {"referenceNo": "Zoë"}}'.encode()
    assert request.header_values("x-forwarded-for") == ("198.51.100.1", "203.0.113.1")
    assert request.client_ip == "198.51.100.20"


@pytest.mark.parametrize(
    ("flag", "sent"),
    [("false", "text"), ("False", "text"), ("true", "base64"), ("TRUE", "base64"), (0, "text")],
)
def test_the_base64_flag_written_as_text_means_what_it_says(flag: object, sent: str) -> None:
    """A hand-written event may spell the flag "false": the body is then the text, not empty."""
    text = '{"event": "Finished Journey", "body": {}}'
    body = text if sent == "text" else base64.b64encode(text.encode()).decode()
    event = {"httpMethod": "POST", "body": body, "isBase64Encoded": flag}

    assert to_webhook_request(event).body == text.encode()


def test_a_header_only_in_headers_is_read_beside_multi_value_headers() -> None:
    """A hand-written v1 event with Authorization in ``headers`` only: not a silent 401."""
    event: dict[str, Any] = {
        "httpMethod": "POST",
        "headers": {"Authorization": "Bearer t", "X-Forwarded-For": "203.0.113.1"},
        "multiValueHeaders": {"x-forwarded-for": ["198.51.100.1", "203.0.113.1"]},
    }

    request = to_webhook_request(event)

    assert request.header_values("authorization") == ("Bearer t",)
    assert request.header_values("x-forwarded-for") == ("198.51.100.1", "203.0.113.1")


def test_an_event_without_body_or_context_converts_to_an_empty_request() -> None:
    """A bare test invocation has no body, headers or source: nothing is invented."""
    request = to_webhook_request({"httpMethod": "POST"})

    assert (request.body, request.header("authorization"), request.client_ip) == (b"", None, None)


MALFORMED_ENVELOPES = [
    pytest.param({"requestContext": "x"}, id="context-a-string"),
    pytest.param({"requestContext": {"http": ["POST"], "identity": 7}}, id="context-parts-lists"),
    pytest.param({"requestContext": {"identity": {"sourceIp": 7}}}, id="source-ip-a-number"),
    pytest.param({"headers": ["authorization"]}, id="headers-a-list"),
    pytest.param({"multiValueHeaders": {"authorization": 7}}, id="multi-value-a-number"),
    pytest.param({"httpMethod": ["POST"]}, id="method-a-list"),
]


@pytest.mark.parametrize("malformed", MALFORMED_ENVELOPES)
def test_a_malformed_envelope_is_answered_not_raised(malformed: dict[str, Any]) -> None:
    """A hand-written test event whose parts are not the objects API Gateway sends: answered.

    What cannot be read is absent: no method is 405, no credentials 401.
    """
    handler = lambda_handler(Dispatcher(verifier=VERIFIER))
    event = {**lambda_event("http-v2", "POST", b"{}", {}), **malformed}

    response = handler(event, None)

    assert response["statusCode"] in (401, 405)
    if "httpMethod" in malformed:
        assert response["statusCode"] == 405


@pytest.mark.parametrize("event", [[], None, "POST", 7], ids=["list", "null", "string", "number"])
def test_an_event_that_is_not_an_object_is_answered_405(event: Any) -> None:
    """A direct invocation with other JSON: no request, so no method (API Gateway sends one)."""
    handler = lambda_handler(Dispatcher(verifier=VERIFIER))

    assert handler(event, None)["statusCode"] == 405


UNREADABLE_BODIES = [
    pytest.param({"body": "not base64!", "isBase64Encoded": True}, id="invalid-base64"),
    pytest.param({"body": "é", "isBase64Encoded": True}, id="non-ascii-base64"),
    pytest.param({"body": {"event": "Finished Journey"}}, id="a-mapping"),
    pytest.param({"body": 12, "isBase64Encoded": True}, id="a-number-marked-base64"),
]


@pytest.mark.parametrize("body", UNREADABLE_BODIES)
@pytest.mark.parametrize(("headers", "status"), [({}, 401), (auth_headers(VERIFIER), 400)])
def test_a_body_the_event_cannot_carry_is_refused_not_raised(
    body: dict[str, Any], headers: dict[str, str], status: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Invalid base64, or a body that is not a string: 401 unauthenticated, else 400; no raise.

    A warning says why: the answer's detail alone ("not valid JSON") pointed elsewhere.
    """
    handler = lambda_handler(Dispatcher(verifier=VERIFIER))
    event = {**lambda_event("http-v2", "POST", b"", headers), **body}

    with caplog.at_level(logging.WARNING, logger="idwise_events"):
        response = handler(event, None)

    assert response["statusCode"] == status
    said = [r.getMessage() for r in caplog.records if "read as empty" in r.getMessage()]
    why = "base64" if isinstance(body["body"], str) else "not a string"
    assert len(said) == 1
    assert why in said[0]


def test_to_response_is_a_proxy_response_with_a_base64_body() -> None:
    """statusCode, headers and the body (base64, so any bytes survive) as Lambda expects."""
    response = to_response(WebhookResponse(401, b'{"outcome": "unauthorized"}', {"X-A": "b"}))

    assert response["statusCode"] == 401
    assert response["headers"] == {"X-A": "b"}
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == b'{"outcome": "unauthorized"}'
