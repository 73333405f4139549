"""Bad input to any command: one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from idwise_events import StoreError
from idwise_events.cli._common import failure_reason

from .conftest import one_error_line, run

CANARY = "CANARY-cli-s3cr3t-51d7"
NOWHERE = "http://127.0.0.1:9/"  # never reached: each of these fails before sending

CASES = [
    # (arguments, exit status, the error line after "idwise-events COMMAND: error: ")
    (["nosuchcommand"], 2, "No such command 'nosuchcommand'."),
    (["listen", "--bogus"], 2, "No such option '--bogus'."),
    (["listen", "--port", "70000"], 2, "Invalid value for '--port': 70000 is not in the range"),
    (["listen", "--path", "webhooks"], 2, "--path must start with '/'"),
    (
        ["purge", "--db", "sqlite:///{tmp}/x.db", "--retention-days", "36526"],
        2,
        "Invalid value for '--retention-days': 36526 is not in the range 1 <= x <= 36525.",
    ),
    (["worker", "--app", "m:d", "--poll", "nan"], 2, "Invalid value for '--poll': nan is not"),
    (["listen", "--path", "/a?b"], 2, "--path is a path alone: no '?' query or '#' fragment"),
    (["listen", "--basic", "idwise"], 2, "--basic takes USER:PASS, with a colon"),
    (["listen", "--basic", "a:b", "--bearer", CANARY], 2, "--basic and --bearer both set"),
    (["listen", "--header", "X-Api-Key"], 2, "--header takes NAME:VALUE, with a colon"),
    (["listen", "--db", "{tmp}/no/such/dir/x.db"], 1, "cannot open the database sqlite:///"),
    (["send", "Finished Journey"], 2, "Missing option '--url'."),
    (
        ["send", "Finished Jorney", "--url", NOWHERE],
        2,
        "'Finished Jorney' is neither a file nor an event type (did you mean 'Finished Journey'?",
    ),
    (["send", "Finished Journey", "--url", "127.0.0.1:8000"], 2, "--url must be an http://"),
    (["send", "Finished Step", "--url", NOWHERE, "--set", "stepId"], 2, "--set takes FIELD=VALUE"),
    (
        ["send", "Finished Step", "--url", NOWHERE, "--set", "stepId=\udcff"],
        2,
        "--set stepId: the value is not UTF-8 text",
    ),
    (
        ["send", "Finished Journey", "--url", NOWHERE, "--unset", "eventid"],
        2,
        "--unset eventid: the body has no such field (it has eventId, journeyId, referenceNo,",
    ),
    (["send", "Finished Step", "--url", NOWHERE, "--timeout", "1e12"], 2, "Invalid value for '--t"),
    (["send", "Finished Step", "--url", NOWHERE, "--timeout", "nan"], 2, "Invalid value for '--t"),
    (
        [
            "send",
            "Finished Step",
            "--url",
            f"http://idwise:{CANARY}@127.0.0.1:9/",
            "--basic",
            "a:b",
        ],
        2,
        "--url holds credentials and --basic gives others: pick one",
    ),
    (
        ["send", "Finished Step", "--url", f"http://idwise:{CANARY}@127.0.0.1:9/", "--bearer", "t"],
        2,
        "--url holds Basic credentials and --bearer sets the Authorization header too",
    ),
    (
        ["send", "Finished Step", "--url", f"ftp://idwise:{CANARY}@127.0.0.1:9/"],
        2,
        "--url must be an http:// or https:// URL with a host, not 'ftp://127.0.0.1:9/'",
    ),
    (
        ["send", "Finished Step", "--url", f"http://:{CANARY}@127.0.0.1:9/"],
        2,
        "--url with credentials needs a user (without ':') and a password",
    ),
    (["send", "Finished Step", "--url", NOWHERE, "--repeat", "0"], 2, "Invalid value for '--r"),
    (["send", "Finished Step", "--url", NOWHERE, "--bearer", " "], 2, "--bearer: "),
    (["validate"], 2, "Missing argument 'PATH... | -'."),
    (["validate", "{tmp}/none.jsonl"], 1, "cannot read {tmp}/none.jsonl: No such file"),
    (["demo", "--server", "gunicorn"], 2, "Invalid value for '--server': 'gunicorn' is not one"),
    (["demo", "--db", "{tmp}/no/such/dir/demo.db"], 1, "cannot open the database sqlite:///"),
    (["demo", "--db", f"postgresql://app:{CANARY}@127.0.0.1:9/db"], 2, "Invalid value for '--db'"),
    (["demo", "--db", ""], 2, "Invalid value for '--db': takes the path of a SQLite file"),
    (["purge"], 2, "Missing option '--db' (env var: 'IDWISE_EVENTS_DB')."),
    (
        ["purge", "--db", f"host=127.0.0.1 dbname=app user=app password={CANARY}"],
        2,
        "--db takes a database URL or a file path, not a libpq connection string",
    ),
    (["listen", "--db", f"password={CANARY}"], 2, "--db takes a database URL or a file path"),
    (["purge", "--db", f"host = h password = {CANARY}"], 2, "--db takes a database URL or a"),
    (
        ["purge", "--db", f"postgresql+psycopg://app@127.0.0.1:9/db?password={CANARY}"],
        1,
        "cannot open the database postgresql+psycopg://app@127.0.0.1:9/db?password=***: ",
    ),
    (
        ["purge", "--db", f"postgresql://app:{CANARY}/x@127.0.0.1:port/db?sslpassword={CANARY}"],
        1,
        "--db: 'postgresql://***@127.0.0.1:port/db?sslpassword=***' is neither a database URL",
    ),
    (
        ["listen", "--db", f"postgresql+psycopg://app@127.0.0.1:9/db?password={CANARY}"],
        1,
        "cannot open the database postgresql+psycopg://app@127.0.0.1:9/db?password=***: ",
    ),
    (["purge", "--db", "{tmp}/x.db", "--retention-days", "1e12"], 2, "Invalid value for '--r"),
    (["purge", "--db", "{tmp}/x.db", "--retention-days", "0.5"], 2, "Invalid value for '--r"),
    (["purge", "--db", "{tmp}/x.db", "--retention-days", "nan"], 2, "Invalid value for '--r"),
    (["purge", "--db", "{tmp}/x.db", "--retention-days", "-1"], 2, "Invalid value for '--r"),
]


@pytest.mark.parametrize(
    ("args", "status", "message"), CASES, ids=[" ".join(case[0])[:40] for case in CASES]
)
def test_each_bad_input_is_one_line_and_a_non_zero_exit(
    args: list[str], status: int, message: str, tmp_path: Path
) -> None:
    """The line names the command and the problem (usage errors point to --help); no secret."""
    result = run(*(arg.format(tmp=tmp_path) for arg in args))

    assert result.returncode == status, result.stderr
    line = one_error_line(result)
    command = args[0] if args[0] != "nosuchcommand" else ""
    prefix = f"idwise-events {command}".strip() + ": error: "
    assert line.startswith(prefix + message.format(tmp=tmp_path)), line
    if status == 2:
        assert line.endswith(" --help')")
    assert CANARY not in result.stdout + result.stderr


def test_bad_auth_variables_name_the_variable_and_never_the_secret() -> None:
    """A malformed IDWISE_WEBHOOK_* variable is a usage error naming it, without its value."""
    result = run(
        "listen", "--port", "0", env={"IDWISE_WEBHOOK_HEADERS": f'["X-Api-Key", "{CANARY}"]'}
    )

    assert result.returncode == 2
    assert one_error_line(result).startswith(
        "idwise-events listen: error: IDWISE_WEBHOOK_HEADERS: must be a JSON object"
    )
    assert CANARY not in result.stderr


def test_help_and_version_exit_0() -> None:
    """`--help` lists the commands in the order to learn them; `--version` prints the version."""
    helped = run("--help")
    version = run("--version")
    bare = run()

    assert helped.returncode == version.returncode == bare.returncode == 0
    commands = [line.split()[0] for line in helped.stdout.split("Commands:")[1].splitlines()[1:]]
    assert commands == ["demo", "listen", "send", "validate", "schema", "purge", "inbox", "worker"]
    assert version.stdout == "idwise-events, version 0.1.0\n"
    assert bare.stdout == helped.stdout
    examples = [line.strip() for line in helped.stdout.splitlines() if "idwise-events " in line]
    assert examples[-2:] == [  # kept as written, one command a line
        "idwise-events listen --bearer TOKEN",
        'idwise-events send "Finished Journey" --url http://127.0.0.1:8000/ --bearer TOKEN',
    ]
    assert "\\b" not in helped.stdout


def test_a_call_that_overran_is_reported_by_its_time_limit_not_by_the_cut() -> None:
    """The driver's "server closed the connection" is how the wait ended, not why."""
    cut = OSError("consuming input failed: server closed the connection unexpectedly")
    overran = StoreError("postgresql inbox did not answer within 10 s")
    overran.__cause__ = cut
    refused = StoreError("postgresql inbox unavailable (connection refused)")
    refused.__cause__ = OSError("connection refused")

    assert failure_reason(overran) == "postgresql inbox did not answer within 10 s"
    assert failure_reason(refused) == "connection refused"
