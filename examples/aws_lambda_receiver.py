"""An AWS Lambda function that receives IDWise webhooks (API Gateway or a function URL).

Deploy it with ``aws_lambda_receiver.handler`` as the handler and the ``IDWISE_WEBHOOK_*``
variables in the function's environment. Lambda runs many instances at once: give the dispatcher
``store=SqlStore(<PostgreSQL URL>)`` so they share what was processed. Locally,

    IDWISE_WEBHOOK_BEARER_TOKEN=change-me python examples/aws_lambda_receiver.py

invokes the handler once with a sample function URL event and prints the answer.
"""

from __future__ import annotations

from idwise_events import Dispatcher, FinishedJourney, verifier_from_env
from idwise_events.adapters.aws_lambda import lambda_handler

dispatcher = Dispatcher(verifier=verifier_from_env())


@dispatcher.on(FinishedJourney)
def finished(event: FinishedJourney) -> None:
    # Payloads carry no personal data: fetch the journey result from IDWise with this id.
    print(f"journey {event.body.journey_id} finished: {event.body.system_decision}")


handler = lambda_handler(dispatcher)

if __name__ == "__main__":
    import base64

    from idwise_events.testing import auth_headers, make_event

    sample = {
        "requestContext": {"http": {"method": "POST", "sourceIp": "127.0.0.1"}},
        "headers": auth_headers(dispatcher.verifier),
        "body": make_event(FinishedJourney).model_dump_json(by_alias=True),
    }
    answer = handler(sample, None)
    print(answer["statusCode"], base64.b64decode(answer["body"]).decode())
