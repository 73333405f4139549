"""``idwise-events schema``: the JSON Schema of the webhooks, all of them or one type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .._parse import json_schema
from ..testing._samples import event_model, known_types
from ._common import CliError, stderr


@click.command(short_help="Print the JSON Schema of the webhooks.")
@click.option("--type", "event_type", metavar="NAME", help="Only this event type's schema.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the schema to this file instead of stdout ('-': stdout).",
)
def schema(event_type: str | None, output: str | None) -> int:
    """Print the JSON Schema of IDWise's webhook payloads, with the wire (camelCase) names.

    Without --type, the schema of any webhook: one of the known types, chosen by "event". Use it
    to document an endpoint (OpenAPI) or to check payloads in another language.
    """
    document: dict[str, Any]
    if event_type is None:
        document = json_schema()
    else:
        model = event_model(event_type)
        if model is None:
            raise click.UsageError(f"--type: {event_type!r} is not an event type ({known_types()})")
        document = model.model_json_schema(by_alias=True, mode="validation")
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None or output == "-":
        click.echo(text, nl=False)
        return 0
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}") from exc
    stderr().print(f"Wrote the schema to {output}.")
    return 0
