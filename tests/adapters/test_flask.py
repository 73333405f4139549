"""The Flask adapter's converters: raw body bytes, headers, peer address, response."""

from __future__ import annotations

import flask

from idwise_events import BearerAuth, Dispatcher, Event, FinishedJourney, WebhookResponse
from idwise_events.adapters.flask import blueprint, to_response, to_webhook_request
from idwise_events.testing import make_event

RAW = b' {"event" : "Finished Journey",\n "body": {}}\xff'  # not re-serialised, not even valid


def test_to_webhook_request_keeps_the_exact_bytes_headers_and_peer() -> None:
    """The body is the bytes received; headers by any case; client_ip is REMOTE_ADDR."""
    app = flask.Flask(__name__)
    with app.test_request_context(
        "/",
        method="POST",
        data=RAW,
        headers={"Authorization": "Bearer t", "X-Tenant": "acme"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    ):
        request = to_webhook_request(flask.request)

    assert request.body == RAW
    assert request.header("authorization") == "Bearer t"
    assert request.header("x-tenant") == "acme"
    assert request.client_ip == "203.0.113.9"


def test_to_response_carries_status_headers_and_body() -> None:
    """Status, every header and the body reach Flask's response unchanged."""
    response = to_response(
        WebhookResponse(409, b'{"outcome": "in_progress"}', {"Retry-After": "7", "X-A": "b"})
    )

    assert response.status_code == 409
    assert response.headers["Retry-After"] == "7"
    assert response.headers["X-A"] == "b"
    assert response.get_data() == b'{"outcome": "in_progress"}'


def test_blueprint_answers_at_its_path_and_under_a_url_prefix() -> None:
    """The path is configurable, blueprints can be named apart, and url_prefix applies."""
    dispatcher = Dispatcher(verifier=BearerAuth("t"))
    app = flask.Flask(__name__)
    app.register_blueprint(blueprint(dispatcher, path="/kyc", name="kyc"), url_prefix="/hooks")
    app.register_blueprint(blueprint(dispatcher))

    client = app.test_client()

    assert client.post("/hooks/kyc", data=b"{}").status_code == 401
    assert client.post("/webhooks/idwise", data=b"{}").status_code == 401
    assert client.post("/elsewhere", data=b"{}").status_code == 404


def test_a_body_a_before_request_hook_read_is_taken_from_flasks_cache() -> None:
    """request.get_data() in a hook (logging, say) left the stream empty: not a cut-short body."""
    dispatcher = Dispatcher(verifier=BearerAuth("t"))
    seen: list[Event] = []
    dispatcher.on_any(seen.append)
    app = flask.Flask(__name__)
    app.register_blueprint(blueprint(dispatcher))

    @app.before_request
    def log_the_body() -> None:
        flask.request.get_data()  # cached by Flask, the stream left empty

    event = make_event(FinishedJourney)

    answer = app.test_client().post(
        "/webhooks/idwise",
        data=event.model_dump_json(by_alias=True),
        headers={"Authorization": "Bearer t", "Content-Type": "application/json"},
    )

    assert (answer.status_code, seen) == (200, [event])
