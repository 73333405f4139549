"""`listen` and `send` against each other over loopback: statuses, duplicates, auth, the output."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from idwise_events import FinishedJourney
from idwise_events.testing import make_event

from .conftest import SCRIPT, TOKEN, WAIT, StartListener, environment, one_error_line, run
from .loopback import answering

PAYLOADS = Path(__file__).parent.parent / "payloads"


def sent_event_id(output: str) -> str:
    found = re.search(r"eventId=(\S+)", output)
    assert found, output
    return found.group(1)


def test_a_repeated_send_is_processed_once_then_shown_as_a_duplicate(
    listener: StartListener,
) -> None:
    """`send --repeat 2`: 200 processed, then 200 duplicate, on both sides, for one eventId."""
    receiver = listener("--bearer", TOKEN)

    sent = run(
        "send", "Finished Journey", "--url", receiver.url, "--bearer", TOKEN, "--repeat", "2"
    )

    assert sent.returncode == 0, sent.stderr
    event_id = sent_event_id(sent.stdout)
    lines = sent.stdout.splitlines()
    assert lines[0] == (
        f"POST {receiver.url} with Bearer Token: Finished Journey eventId={event_id}"
    )
    assert lines[1:] == [
        "#1 200 processed  passes IDWise's test (HTTP 200)",
        "#2 200 duplicate  passes IDWise's test (HTTP 200)",
    ]
    first, second = receiver.line(), receiver.line()
    fields = (
        f"Finished Journey eventId={event_id} journeyId=6720a1f3c9e84b2d5f0e122e"
        " referenceNo=cust-000842 systemDecision=Complete"
    )
    assert re.fullmatch(rf"\d\d:\d\d:\d\d 200 processed   {fields}", first), first
    assert re.fullmatch(rf"\d\d:\d\d:\d\d 200 duplicate   {fields}", second), second


def test_wrong_credentials_get_401_and_fail_idwises_test(listener: StartListener) -> None:
    """A guessed token is answered 401, `send` says IDWise would retry and exits 1."""
    receiver = listener("--bearer", TOKEN)

    sent = run("send", "finished-journey", "--url", receiver.url, "--bearer", "guessed")

    assert sent.returncode == 1
    assert sent.stdout.splitlines()[1] == (
        "401 unauthorized  fails IDWise's test: IDWise would retry (only HTTP 200 counts)"
    )
    assert receiver.line().endswith(
        " 401 unauthorized from 127.0.0.1: credentials missing or wrong"
    )


def test_listen_flags_unknown_fields_and_events_and_reports_invalid_payloads(
    listener: StartListener, tmp_path: Path
) -> None:
    """Extra fields are flagged, an unknown event name is acknowledged, a bad body gets 400."""
    receiver = listener("--bearer", TOKEN)
    invalid = tmp_path / "invalid.json"
    invalid.write_text('{"event": "Finished Journey", "body": {"journeyId": "j-1"}}')
    unknown = PAYLOADS / "unknown_event.json"
    auth = ["--url", receiver.url, "--bearer", TOKEN]

    changed = run(
        "send", "AmlMonitorUpdate", *auth, "--set", "riskScore=0.5", "--set", "matchCount=2"
    )
    refused = run("send", str(invalid), *auth)
    accepted = run("send", str(unknown), *auth)

    assert [changed.returncode, refused.returncode, accepted.returncode] == [0, 1, 0]
    assert receiver.line().endswith(
        " systemDecision=Refer previousSystemDecision=Complete updatedAMLVersionNumber=1"
        "  unknown fields: body.matchCount, body.riskScore"
    )
    assert receiver.line().endswith(
        " 400 invalid     invalid 'Finished Journey' event: body.systemDecision: Field required"
    )
    assert re.search(
        r" 200 processed   unknown event name 'Journey Archived' eventId=\S+ journeyId=",
        receiver.line(),
    )
    assert "(an event name this version does not know)" in accepted.stdout
    assert changed.stdout.splitlines()[0].endswith(
        " unknown fields: body.matchCount, body.riskScore"
    )


def test_listen_json_prints_one_object_per_delivery(listener: StartListener) -> None:
    """`--json`: each delivery is a JSON line with its status, outcome, fields and flags."""
    receiver = listener("--json", "--header", "X-Api-Key:k-1")
    auth = ["--url", receiver.url, "--header", "X-Api-Key: k-1"]

    run(
        "send",
        "Step Submitted",
        *auth,
        "--set",
        "stepId=3",
        "--set",
        "deviceOs=ios",
        "--repeat",
        "2",
    )
    run("send", "Step Submitted", "--url", receiver.url)

    first, second, refused = (json.loads(receiver.line()) for _ in range(3))
    assert first["status"] == 200
    assert (first["outcome"], first["duplicate"]) == ("processed", False)
    assert (second["outcome"], second["duplicate"]) == ("duplicate", True)
    assert first["event"] == "Step Submitted"
    assert first["known_event"] is True
    assert first["event_id"] == second["event_id"] == first["fields"]["eventId"]
    assert first["fields"]["stepId"] == "3"
    assert first["fields"]["stepType"] == "Document"
    assert first["unknown_fields"] == ["body.deviceOs"]
    assert (first["method"], first["path"], first["client_ip"]) == ("POST", "/", "127.0.0.1")
    assert (refused["status"], refused["outcome"], refused["event"]) == (401, "unauthorized", None)


def test_auth_comes_from_the_environment_when_no_flag_gives_it(listener: StartListener) -> None:
    """Both commands read the IDWISE_WEBHOOK_* variables, as verifier_from_env does."""
    env = {"IDWISE_WEBHOOK_BASIC_USERNAME": "idwise", "IDWISE_WEBHOOK_BASIC_PASSWORD": "pw-1"}
    receiver = listener(env=env)

    from_env = run("send", "Finished Step", "--url", receiver.url, env=env)
    from_flag = run("send", "Finished Step", "--url", receiver.url, "--basic", "idwise:pw-1")
    without = run("send", "Finished Step", "--url", receiver.url)

    assert "(the IDWISE_WEBHOOK_* environment variables;" in receiver.banner
    assert "pw-1" not in receiver.banner
    assert [from_env.returncode, from_flag.returncode, without.returncode] == [0, 0, 1]
    assert [receiver.line().split()[1] for _ in range(3)] == ["200", "200", "401"]


def test_files_are_sent_byte_for_byte_and_their_event_id_deduplicates(
    listener: StartListener,
) -> None:
    """A payload file keeps its eventId: sent twice, the second delivery is a duplicate."""
    receiver = listener()
    payload = str(PAYLOADS / "manually_reviewed.json")

    first = run("send", payload, "--url", receiver.url)
    again = run("send", "-", "--url", receiver.url, input=Path(payload).read_text())

    assert "200 processed" in first.stdout
    assert "200 duplicate" in again.stdout
    assert receiver.line().split()[1:3] == ["200", "processed"]
    assert receiver.line().split()[1:3] == ["200", "duplicate"]


def test_listen_answers_404_off_its_path_and_stops_cleanly_on_ctrl_c(
    listener: StartListener,
) -> None:
    """Another path gets 404 and a line saying where webhooks go; Ctrl-C exits 0."""
    receiver = listener("--path", "/webhooks/idwise", "--bearer", TOKEN)
    elsewhere = receiver.url.replace("/webhooks/idwise", "/other")

    sent = run("send", "Finished Journey", "--url", elsewhere, "--bearer", TOKEN)

    assert sent.returncode == 1
    assert receiver.line().endswith(
        " 404 not_found   POST /other: nothing here (webhooks go to /webhooks/idwise)"
    )
    status, stderr = receiver.stop()
    assert status == 0
    assert stderr == "Stopped."
    assert TOKEN not in receiver.banner


def test_listen_without_credentials_accepts_everything_and_says_so(
    listener: StartListener,
) -> None:
    """With no flag and no variable, the receiver warns that anyone can post, and accepts all."""
    receiver = listener()

    sent = run("send", "Finished Journey", "--url", receiver.url, "--bearer", "anything")

    assert sent.returncode == 0
    assert "(no authentication;" in receiver.banner
    assert receiver.error_line().startswith("warning: without --bearer, --basic, --header or")
    assert receiver.line().split()[1:3] == ["200", "processed"]


def test_a_port_in_use_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """Another server on the port: one clear line, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])

        result = run("listen", "--port", port, "--db", str(tmp_path / "events.db"))

    assert result.returncode == 1
    assert one_error_line(result) == (
        f"idwise-events listen: error: cannot listen on 127.0.0.1:{port}: the address is already"
        " in use (another server on that port? try --port)"
    )


def test_an_unreachable_url_is_one_line_and_exit_1() -> None:
    """Nothing listening: `send` says it cannot reach the URL, and never shows the token."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    url = f"http://127.0.0.1:{port}/"

    result = run("send", "Finished Journey", "--url", url, "--bearer", TOKEN)

    assert result.returncode == 1
    assert one_error_line(result) == (
        f"idwise-events send: error: cannot reach {url}: Connection refused"
    )
    assert TOKEN not in result.stdout + result.stderr


def test_ctrl_c_stops_a_listener_started_with_sigint_ignored(tmp_path: Path) -> None:
    """A shell starts background jobs ignoring SIGINT; listen still stops on Ctrl-C, cleanly."""
    process = subprocess.Popen(
        [str(SCRIPT), "listen", "--port", "0", "--db", str(tmp_path / "events.db")],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert process.stderr is not None
        assert process.stderr.readline().startswith("Listening for IDWise webhooks")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=WAIT) == 0
        assert process.stderr.read().strip().endswith("Stopped.")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=WAIT)
        if process.stderr is not None:
            process.stderr.close()


def test_what_the_sender_chose_is_escaped_and_cut_on_both_sides(
    listener: StartListener, tmp_path: Path
) -> None:
    """Newlines, ESC sequences and bidi overrides are shown escaped; a 200 KB id is cut."""
    receiver = listener()
    hostile = tmp_path / "hostile.json"
    hostile.write_text(
        json.dumps(
            {
                "event": "Finished Journey",
                "body": {
                    "eventId": "evt\n\x1b[31mforged 200 processed\r\n\u202e",
                    "journeyId": "j" * 200_000,
                    "systemDecision": "Complete",
                    "note\x1b[2J": 1,
                },
            }
        )
    )

    sent = run("send", str(hostile), "--url", receiver.url)

    assert sent.returncode == 0, sent.stderr
    escaped = "evt\\n\\x1b[31mforged 200 processed\\r\\n\\u202e"
    assert sent.stdout.splitlines()[0] == (
        f"POST {receiver.url} with no authentication: Finished Journey eventId={escaped}"
        " unknown fields: body.note\\x1b[2J"
    )
    line = receiver.line()
    assert re.fullmatch(
        rf"\d\d:\d\d:\d\d 200 processed   Finished Journey eventId={re.escape(escaped)}"
        rf" journeyId={'j' * 200}… \(200000 characters\) systemDecision=Complete"
        r"  unknown fields: body\.note\\x1b\[2J",
        line,
    ), line[:400]
    assert "\x1b" not in sent.stdout + line


def test_listen_defaults_to_its_own_store_beside_an_apps(
    listener: StartListener, tmp_path: Path
) -> None:
    """Without --db, listen keeps idwise-events-listen.db: never the app's idwise-events.db."""
    receiver = listener(cwd=tmp_path)

    sent = run("send", "Finished Journey", "--url", receiver.url)

    assert sent.returncode == 0
    assert f"store sqlite:///{tmp_path / 'idwise-events-listen.db'})" in receiver.banner
    assert (tmp_path / "idwise-events-listen.db").is_file()
    assert not (tmp_path / "idwise-events.db").exists()


def test_set_takes_json_values_null_included_and_unset_removes(listener: StartListener) -> None:
    """`--set journeyId=null` sends null (a 400 to try), `--unset eventId` a legacy payload."""
    receiver = listener()
    url = ["--url", receiver.url]

    invalid = run("send", "Finished Journey", *url, "--set", "journeyId=null")
    legacy = run("send", "Finished Journey", *url, "--unset", "event_id", "--set", "tags=[1]")

    assert invalid.returncode == 1
    first, answer = invalid.stdout.splitlines()
    assert first.startswith(f"POST {receiver.url} with no authentication: a payload that is not")
    assert "body.journeyId: Input should be a string or a finite number" in first
    assert answer.startswith("400 invalid (invalid 'Finished Journey' event: body.journeyId:")
    assert receiver.line().split()[1:3] == ["400", "invalid"]
    assert legacy.returncode == 0
    assert legacy.stdout.splitlines()[0].endswith(
        ": Finished Journey (no eventId) unknown fields: body.tags"
    )
    shown = receiver.line()
    assert " 200 processed   Finished Journey journeyId=" in shown
    assert shown.endswith("  unknown fields: body.tags")


def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_shown(
    listener: StartListener,
) -> None:
    """As curl does: user:password@ leaves the URL for the Authorization header (decoded)."""
    secret = "CANARY p@ss"  # noqa: S105 -- a throwaway credential for a server on loopback
    receiver = listener("--basic", f"idwise:{secret}")
    with_credentials = receiver.url.replace("http://", "http://idwise:CANARY%20p%40ss@")

    sent = run("send", "Finished Journey", "--url", with_credentials)
    wrong = run("send", "Finished Journey", "--url", with_credentials.replace("p%40ss", "x"))

    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.startswith(
        f"POST {receiver.url} with Basic Authentication (from the URL): Finished Journey"
    )
    assert receiver.line().split()[1:3] == ["200", "processed"]
    assert wrong.returncode == 1
    assert receiver.line().split()[1:3] == ["401", "unauthorized"]
    for output in (sent.stdout, sent.stderr, wrong.stdout, wrong.stderr):
        assert "CANARY" not in output


@pytest.mark.parametrize("status", [301, 307, 308])
def test_a_redirect_is_reported_and_fails_without_following_it(
    status: int, listener: StartListener
) -> None:
    """IDWise follows no redirect: neither does send, and the credentials go nowhere else."""
    receiver = listener("--bearer", TOKEN)

    with answering(status, location=receiver.url) as redirecting:
        sent = run("send", "Finished Journey", "--url", redirecting.url + "/", "--bearer", TOKEN)

    assert sent.returncode == 1
    assert sent.stdout.splitlines()[1] == (
        f"{status} redirected to {receiver.url}: IDWise does not follow redirects  fails IDWise's"
        " test: IDWise would retry (only HTTP 200 counts)"
    )
    assert [request[:2] for request in redirecting.requests] == [("POST", "/")]
    # The receiver got nothing: the next line it prints is for this direct delivery.
    direct = run("send", "Step Submitted", "--url", receiver.url, "--bearer", TOKEN)
    assert direct.returncode == 0
    assert " 200 processed   Step Submitted " in receiver.line()


def test_a_url_with_accents_is_sent_percent_encoded() -> None:
    """``/café`` cannot go in a request line as it is: it goes as a browser sends it."""
    with answering(200) as receiving:
        sent = run("send", "Finished Journey", "--url", receiving.url + "/café?q=é")

    assert (sent.returncode, sent.stderr) == (0, "")
    assert [request[:2] for request in receiving.requests] == [("POST", "/caf%C3%A9?q=%C3%A9")]
    assert f"{receiving.url}/caf%C3%A9?q=%C3%A9" in sent.stdout


def test_a_burst_of_connections_is_answered_not_reset(listener: StartListener) -> None:
    """50 deliveries at once are all answered: the listening socket's backlog holds them.

    socketserver's backlog of 5 made a trial's burst of 50 lose 19 connections to resets; the
    kernel reports the backlog as the listening socket's Send-Q.
    """
    ss = shutil.which("ss")
    if ss is None:
        pytest.skip("needs iproute2's ss, to read the backlog (CI installs it)")
    receiver = listener()
    address = urlsplit(receiver.url)
    host, port = address.hostname or "", address.port or 80
    sockets = subprocess.run(
        [ss, "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
    )
    (listening,) = sockets.stdout.splitlines()
    assert int(listening.split()[2]) >= 128  # (5 before)
    connections = [socket.create_connection((host, port), timeout=30) for _ in range(50)]
    try:
        for connection in connections:
            body = make_event(FinishedJourney).model_dump_json(by_alias=True).encode()  # new each
            connection.sendall(
                f"POST {address.path} HTTP/1.1\r\nHost: {host}\r\nContent-Type:"
                f" application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
        answers = [connection.recv(12) for connection in connections]
    finally:
        for connection in connections:
            connection.close()

    assert answers == [b"HTTP/1.0 200"] * 50
