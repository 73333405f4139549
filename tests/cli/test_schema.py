"""`schema`: the JSON Schema of every webhook, or of one type, to stdout or a file."""

from __future__ import annotations

import json
from pathlib import Path

from idwise_events import KycRenewalDeadlineExceeded, json_schema

from .conftest import one_error_line, run


def test_schema_prints_the_schema_of_every_webhook(tmp_path: Path) -> None:
    """Without options it is json_schema(), as JSON on stdout; ``-o -`` is stdout too."""
    result = run("schema")
    dashed = run("schema", "-o", "-", cwd=tmp_path)

    assert result.returncode == 0
    assert json.loads(result.stdout) == json_schema()
    assert dashed.stdout == result.stdout
    assert list(tmp_path.iterdir()) == []  # no file named "-"


def test_schema_of_one_type_goes_to_a_file(tmp_path: Path) -> None:
    """`--type` takes any spelling of a type; `--output` writes the file and says so on stderr."""
    output = tmp_path / "kyc.json"

    result = run("schema", "--type", "kyc-renewal-deadline-exceeded", "--output", str(output))

    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr == f"Wrote the schema to {output}.\n"
    schema = json.loads(output.read_text())
    assert schema == KycRenewalDeadlineExceeded.model_json_schema(by_alias=True, mode="validation")
    assert "requiredSteps" in schema["$defs"]["KycRenewalDeadlineExceededBody"]["properties"]


def test_schema_refuses_an_unknown_type_and_an_unwritable_file(tmp_path: Path) -> None:
    """Each is one line on stderr: a usage error (2), a file error (1)."""
    unknown = run("schema", "--type", "Journey Archived")
    unwritable = run("schema", "--output", str(tmp_path / "missing" / "schema.json"))

    assert unknown.returncode == 2
    assert one_error_line(unknown).startswith(
        "idwise-events schema: error: --type: 'Journey Archived' is not an event type (Finished"
        " Journey, Manually Reviewed,"
    )
    assert unwritable.returncode == 1
    assert one_error_line(unwritable) == (
        f"idwise-events schema: error: cannot write {tmp_path / 'missing' / 'schema.json'}:"
        " No such file or directory"
    )
