"""``idwise-events inbox list|show|replay|purge|stats`` as users run it: SQLite, PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from idwise_events import FinishedJourney, ManuallyReviewed
from idwise_events._inbox import DeliveryState
from idwise_events.inbox.sql import SqlInbox
from idwise_events.testing import FakeClock, make_event
from idwise_events.testing.postgres import TemporaryPostgres

from ..cli.conftest import SCRIPT, environment, one_error_line, run
from ..conftest import postgres_url
from .conftest import accept_event

LEASE = timedelta(minutes=5)


def fill(inbox: SqlInbox) -> dict[str, int]:
    """A delivery of each state but processing, the done one finished 10 days ago."""
    ids = {
        "done": accept_event(inbox).id,
        "dead": accept_event(inbox, make_event(ManuallyReviewed)).id,
        "pending": accept_event(
            inbox, make_event(FinishedJourney, reference_no="evil\x1b[2J\u202e")
        ).id,
    }
    for name, settle in (("done", inbox.complete), ("dead", None)):
        held = inbox.take(ids[name], lease=LEASE)
        assert held is not None
        if settle is None:
            inbox.bury(ids[name], held.token, error="KeyError: 'journey'")
        else:
            settle(ids[name], held.token)
    return ids


@pytest.fixture
def sqlite_inbox(tmp_path: Path) -> tuple[str, dict[str, int]]:
    url = f"sqlite:///{tmp_path / 'inbox.db'}"
    clock = FakeClock(start=datetime.now(timezone.utc) - timedelta(days=10))
    inbox = SqlInbox(url, clock=clock)
    ids = fill(inbox)
    inbox.close()
    return str(tmp_path / "inbox.db"), ids


def test_list_and_stats_show_the_deliveries(sqlite_inbox: tuple[str, dict[str, int]]) -> None:
    db, _ids = sqlite_inbox
    listed = run("inbox", "list", "--db", db)
    dead = run("inbox", "list", "--db", db, "--state", "dead")
    stats = run("inbox", "stats", "--db", db)

    assert listed.returncode == 0, listed.stderr
    assert "Manually Reviewed" in listed.stdout
    assert "Finished Journey" in listed.stdout
    assert "KeyError: 'journey'" in dead.stdout
    assert "Finished Journey" not in dead.stdout
    assert [line.split()[1:4:2] for line in stats.stdout.splitlines() if "│" in line] == [
        ["pending", "1"],
        ["processing", "0"],
        ["done", "1"],
        ["dead", "1"],
    ]


def test_list_into_a_pipe_keeps_each_delivery_whole_on_one_line(tmp_path: Path) -> None:
    """Piped to grep or awk, an event id is never cut short or folded."""
    inbox = SqlInbox(f"sqlite:///{tmp_path / 'inbox.db'}")
    event_id = "5a1ac71b-5d37-44aa-9f3b-0123456789ab"
    accept_event(inbox, make_event(FinishedJourney, event_id=event_id))
    inbox.close()

    piped = {name: value for name, value in environment().items() if name != "COLUMNS"}
    listed = subprocess.run(
        [str(SCRIPT), "inbox", "list", "--db", str(tmp_path / "inbox.db")],
        capture_output=True,
        text=True,
        env=piped,
        timeout=120,
        check=True,
    )

    [row] = [line for line in listed.stdout.splitlines() if event_id in line]
    cells = [cell.strip() for cell in row.split("│")]
    assert cells[2:5] == ["pending", "Finished Journey", event_id]


def test_list_finds_an_event_id_and_pages_with_before_id(tmp_path: Path) -> None:
    """--event-id finds the delivery IDWise support quotes; a full page says how to go on."""
    inbox = SqlInbox(f"sqlite:///{tmp_path / 'inbox.db'}")
    wanted = "5a1ac71b-5d37-44aa-9f3b-0123456789ab"
    first = accept_event(inbox, make_event(FinishedJourney, event_id=wanted)).id
    later = [accept_event(inbox).id for _ in range(3)]
    inbox.close()
    db = str(tmp_path / "inbox.db")

    found = run("inbox", "list", "--db", db, "--event-id", wanted)
    page = run("inbox", "list", "--db", db, "--limit", "2")
    after = run("inbox", "list", "--db", db, "--limit", "2", "--before-id", str(later[1]))

    def ids_listed(result: subprocess.CompletedProcess[str]) -> list[int]:
        assert result.returncode == 0, result.stderr
        rows = [line.split("│") for line in result.stdout.splitlines() if "│" in line]
        return [int(row[1]) for row in rows if row[1].strip().isdigit()]

    assert ids_listed(found) == [first]
    assert found.stderr == ""  # one of at most 50: no next page
    assert ids_listed(page) == [later[2], later[1]]
    assert f"2 shown; older ones with --before-id {later[1]} (same filters)" in page.stderr
    assert ids_listed(after) == [later[0], first]


def test_list_takes_any_limit_a_database_takes_and_refuses_a_larger_one(tmp_path: Path) -> None:
    """--limit beyond 64 bits is a usage error naming the range, not a crash in the driver."""
    inbox = SqlInbox(f"sqlite:///{tmp_path / 'inbox.db'}")
    accept_event(inbox)
    inbox.close()
    db = str(tmp_path / "inbox.db")

    largest = run("inbox", "list", "--db", db, "--limit", str(2**63 - 1))
    larger = run("inbox", "list", "--db", db, "--limit", str(2**63))

    assert largest.returncode == 0, largest.stderr
    assert larger.returncode == 2
    assert "--limit" in larger.stderr
    assert "1<=x<=9223372036854775807" in larger.stderr
    assert "Traceback" not in larger.stderr + largest.stderr


def test_list_reads_long_lists_a_page_at_a_time_and_misses_none(tmp_path: Path) -> None:
    """Past the 50 read at a time (bodies of up to 1 MB are not all held): the same rows."""
    inbox = SqlInbox(f"sqlite:///{tmp_path / 'inbox.db'}")
    spelt = [accept_event(inbox, make_event("AML Monitor Update")).id for _ in range(70)]
    misspelt = [accept_event(inbox, make_event("AML Monior Update")).id for _ in range(70)]
    inbox.close()
    db = str(tmp_path / "inbox.db")

    both = run("inbox", "list", "--db", db, "--type", "AmlMonitorUpdate", "--limit", "130")
    every = run("inbox", "list", "--db", db, "--limit", "1000")

    def ids_listed(result: subprocess.CompletedProcess[str]) -> list[int]:
        assert result.returncode == 0, result.stderr
        rows = [line.split("│") for line in result.stdout.splitlines() if "│" in line]
        return [int(row[1]) for row in rows if row[1].strip().isdigit()]

    newest_first = sorted(spelt + misspelt, reverse=True)
    assert ids_listed(both) == newest_first[:130]
    assert f"130 shown; older ones with --before-id {newest_first[129]}" in both.stderr
    assert ids_listed(every) == newest_first
    assert every.stderr == ""


def test_list_takes_the_event_type_spelt_as_send_takes_it(
    sqlite_inbox: tuple[str, dict[str, int]],
) -> None:
    """--type: the wire name, the model's or a slug; a name no event has says so on stderr."""
    db, ids = sqlite_inbox
    inbox = SqlInbox(f"sqlite:///{db}")
    misspelt = accept_event(inbox, make_event("AML Monior Update")).id  # as one page spells it
    spelt = accept_event(inbox, make_event("AML Monitor Update")).id
    inbox.close()
    spellings = ("Manually Reviewed", "ManuallyReviewed", "manually-reviewed")
    listed = [run("inbox", "list", "--db", db, "--type", name) for name in spellings]
    aml = [
        run("inbox", "list", "--db", db, "--type", name)
        for name in ("AmlMonitorUpdate", "AML Monior Update")
    ]
    typo = run("inbox", "list", "--db", db, "--type", "Manualy Reviewed")

    def ids_listed(result: subprocess.CompletedProcess[str]) -> list[str]:
        assert result.returncode == 0, result.stderr
        return [line.split()[1] for line in result.stdout.splitlines() if "│" in line]

    for result in listed:
        assert ids_listed(result) == [str(ids["dead"])], result.stdout
    for result in aml:  # every name the event is sent with
        assert ids_listed(result) == [str(spelt), str(misspelt)], result.stdout
    assert typo.returncode == 0
    assert "│" not in typo.stdout  # no row (the header is drawn with ┃)
    assert "'Manualy Reviewed' is not an IDWise event type" in typo.stderr


def test_show_prints_the_payload_pretty_with_control_characters_escaped(
    sqlite_inbox: tuple[str, dict[str, int]],
) -> None:
    db, ids = sqlite_inbox
    shown = run("inbox", "show", str(ids["pending"]), "--db", db)

    assert shown.returncode == 0, shown.stderr
    assert '"referenceNo": "evil\\u001b[2J\\u202e"' in shown.stdout
    assert "\x1b[2J" not in shown.stdout
    assert "\u202e" not in shown.stdout
    assert "pending" in shown.stdout
    assert "no delivery 999" in one_error_line(run("inbox", "show", "999", "--db", db))


def test_show_prints_a_payload_nested_past_pythons_limit_as_it_is_stored(tmp_path: Path) -> None:
    """Such a body is refused on the way in; one written into the database is shown, raw."""
    inbox = SqlInbox(f"sqlite:///{tmp_path / 'inbox.db'}")
    nested = b'{"event": "Finished Journey", "body": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    delivery_id = accept_event(inbox, body=nested).id
    inbox.close()

    shown = run("inbox", "show", str(delivery_id), "--db", str(tmp_path / "inbox.db"))

    assert shown.returncode == 0, shown.stderr  # (it was "unexpected RecursionError")
    # Raw where Python's json gives up (3.10 to 3.12), pretty where it does not (3.13).
    assert shown.stdout.count("[") >= 5000


def test_a_reader_that_stops_reading_ends_show_quietly_and_well(tmp_path: Path) -> None:
    """`idwise-events inbox show 1 | head -1`: exit 0, nothing on stderr (rich's own end was 1)."""
    inbox = SqlInbox(f"sqlite:///{tmp_path / 'inbox.db'}")
    event = make_event(FinishedJourney, reference_no="x" * 200_000)  # more than a pipe holds
    delivery_id = accept_event(inbox, event).id
    inbox.close()
    for _ in range(3):  # where the pipe closes varies: rich's write, or the final flush
        command = subprocess.Popen(
            [str(SCRIPT), "inbox", "show", str(delivery_id), "--db", str(tmp_path / "inbox.db")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment(),
        )
        assert command.stdout is not None
        assert command.stderr is not None
        command.stdout.readline()
        command.stdout.close()  # what `head -1` does once it has its line

        assert command.wait(timeout=120) == 0
        assert command.stderr.read() == b""
        command.stderr.close()


def test_replay_one_and_every_dead_letter(sqlite_inbox: tuple[str, dict[str, int]]) -> None:
    db, ids = sqlite_inbox
    one = run("inbox", "replay", str(ids["done"]), "--db", db)
    refused = run("inbox", "replay", str(ids["pending"]), "--db", db)
    unknown = run("inbox", "replay", "999", "--db", db)
    every = run("inbox", "replay", "--dead", "--db", db)

    assert one.returncode == 0
    assert f"Replaying delivery {ids['done']}: the embedded worker takes it" in one.stdout
    assert "within twice their sweep_every" in one.stdout  # when: --db cannot enqueue it
    assert one_error_line(refused).endswith(
        f"delivery {ids['pending']} is pending: only done and dead deliveries can be replayed"
        " (a pending one runs anyway)"
    )
    assert one_error_line(unknown).endswith("no delivery 999")
    assert every.returncode == 0
    assert "Replaying 1 dead letter: the embedded worker takes it at" in every.stdout
    inbox = SqlInbox(f"sqlite:///{db}")
    assert inbox.stats()[DeliveryState.PENDING] == 3
    inbox.close()
    assert run("inbox", "replay", "--db", db).returncode == 2


APP = """
from pathlib import Path

from idwise_events import BearerAuth, Dispatcher
from idwise_events.inbox.sql import SqlInbox

HERE = Path(__file__).parent
dispatcher = Dispatcher(
    verifier=BearerAuth("replay-test-token"), inbox=SqlInbox(f"sqlite:///{HERE / 'inbox.db'}")
)


@dispatcher.on_accepted
def enqueue(delivery_id: int) -> None:  # a queue's enqueue, written down
    with open(HERE / "enqueued.txt", "a") as enqueued:
        enqueued.write(f"{delivery_id}\\n")
"""


def test_replay_through_an_app_without_hooks_says_the_sweep_runs_it(tmp_path: Path) -> None:
    """No on_accepted hook (no engine installed): nothing enqueued, and the message says so."""
    inbox = SqlInbox(f"sqlite:///{tmp_path / 'inbox.db'}")
    delivery_id = accept_event(inbox).id
    held = inbox.take(delivery_id, lease=LEASE)
    assert held is not None
    inbox.complete(delivery_id, held.token)
    inbox.close()
    (tmp_path / "plain_app.py").write_text(APP.split("@dispatcher.on_accepted")[0])

    replayed = run(
        "inbox", "replay", str(delivery_id), "--app", "plain_app:dispatcher", cwd=tmp_path
    )

    assert replayed.returncode == 0, replayed.stderr
    assert "your dispatcher has no on_accepted hook to enqueue it: the embedded" in replayed.stdout
    assert "enqueued by" not in replayed.stdout
    assert "replay with --app" not in replayed.stdout  # (it was)


RELATIVE_APP = """
from idwise_events import BearerAuth, Dispatcher, MemoryInbox
from idwise_events.inbox.sql import SqlInbox

token = BearerAuth("replay-test-token")
dispatcher = Dispatcher(verifier=token, inbox=SqlInbox("sqlite:///inbox.db"))  # relative
in_memory = Dispatcher(verifier=token, inbox=MemoryInbox())
"""


def test_replay_through_an_app_whose_inbox_is_not_there_says_so_and_creates_nothing(
    tmp_path: Path,
) -> None:
    """Run elsewhere than the app's directory: not "Replaying 0 dead letters" in a new file."""
    (tmp_path / "relative_app.py").write_text(RELATIVE_APP)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = f"{tmp_path}:{os.environ.get('PYTHONPATH', '')}"

    dead = run(
        "inbox", "replay", "--dead", "--app", "relative_app:dispatcher",
        cwd=elsewhere, env={"PYTHONPATH": path},
    )  # fmt: skip
    memory = run("inbox", "replay", "--dead", "--app", "relative_app:in_memory", cwd=tmp_path)

    assert dead.returncode == 1
    assert f"no SQLite database at {elsewhere / 'inbox.db'}." in one_error_line(dead)
    assert "run this in your app's directory" in one_error_line(dead)
    assert not (elsewhere / "inbox.db").exists()
    assert memory.returncode == 1
    assert "inbox is a MemoryInbox: it lives in your app's process" in one_error_line(memory)


def test_the_database_may_come_from_the_environment(
    sqlite_inbox: tuple[str, dict[str, int]],
) -> None:
    """IDWISE_EVENTS_DB keeps a password out of the command line; --app still wins for replay."""
    db, ids = sqlite_inbox
    stats = run("inbox", "stats", env={"IDWISE_EVENTS_DB": db})
    replayed = run(
        "inbox", "replay", str(ids["done"]), "--app", "json:loads", env={"IDWISE_EVENTS_DB": db}
    )

    assert stats.returncode == 0, stats.stderr
    assert "done" in stats.stdout
    assert "json:loads is a function, not a Dispatcher" in one_error_line(replayed)  # not "both"


def test_replay_through_the_app_calls_its_accepted_hooks(
    sqlite_inbox: tuple[str, dict[str, int]], tmp_path: Path
) -> None:
    """--app replays in the dispatcher's inbox and its hooks enqueue each delivery at once."""
    db, ids = sqlite_inbox
    (tmp_path / "hooks_app.py").write_text(APP)

    one = run("inbox", "replay", str(ids["done"]), "--app", "hooks_app:dispatcher", cwd=tmp_path)
    every = run("inbox", "replay", "--dead", "--app", "hooks_app:dispatcher", cwd=tmp_path)
    both = run("inbox", "replay", "--dead", "--db", db, "--app", "hooks_app:dispatcher")
    neither = run("inbox", "replay", "--dead")
    no_inbox = run("inbox", "replay", "--dead", "--app", "json:loads")

    assert f"Replaying delivery {ids['done']}: enqueued by your dispatcher's" in one.stdout
    assert "Replaying 1 dead letter: enqueued by your dispatcher's" in every.stdout
    enqueued = (tmp_path / "enqueued.txt").read_text().split()
    assert enqueued == [str(ids["done"]), str(ids["dead"])]
    inbox = SqlInbox(f"sqlite:///{db}")
    assert inbox.stats()[DeliveryState.PENDING] == 3
    inbox.close()
    assert (both.returncode, neither.returncode) == (2, 2)
    assert "not both" in both.stderr
    assert "--db (the inbox's database) or --app" in neither.stderr
    assert "json:loads is a function, not a Dispatcher" in one_error_line(no_inbox)


def test_purge_deletes_old_done_deliveries_and_dead_ones_if_asked(
    sqlite_inbox: tuple[str, dict[str, int]],
) -> None:
    db, _ids = sqlite_inbox
    done_only = run("inbox", "purge", "--older-than-days", "7", "--db", db)
    with_dead = run("inbox", "purge", "--older-than-days", "7", "--dead", "--db", db)

    nothing_left = run("inbox", "purge", "--older-than-days", "1", "--db", db)

    assert "Purged 1 delivery older than 7 days." in done_only.stdout
    assert "Purged 1 delivery" in with_dead.stdout
    assert "Purged 0 deliveries older than 1 day." in nothing_left.stdout
    inbox = SqlInbox(f"sqlite:///{db}")
    assert inbox.stats()[DeliveryState.PENDING] == 1
    assert inbox.stats()[DeliveryState.DEAD] == 0
    inbox.close()


def test_a_missing_database_or_table_is_refused_by_name_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    no_db = run("inbox", "stats", "--db", str(missing))
    no_db_uri = run("inbox", "stats", "--db", f"sqlite:///file:{missing}?uri=true")
    other = tmp_path / "other.db"
    SqlInbox(f"sqlite:///{other}").create_table()
    no_table = run("inbox", "list", "--db", str(other), "--table", "nope")

    assert one_error_line(no_db) == (  # named by the subcommand, as usage errors are
        f"idwise-events inbox stats: error: no SQLite database at {missing}"
    )
    assert f"no SQLite database at {missing}" in one_error_line(no_db_uri)
    assert not missing.exists()
    assert "no inbox table nope in sqlite:///" in one_error_line(no_table)


def test_a_django_projects_database_without_table_points_at_the_django_inbox(
    tmp_path: Path,
) -> None:
    """The Django app's inbox has its own table name: the error names it where it is there."""
    database = tmp_path / "django.db"
    SqlInbox(f"sqlite:///{database}", table_name="idwise_events_inboxdelivery").create_table()

    default = run("inbox", "list", "--db", str(database))
    named = run("inbox", "list", "--db", str(database), "--table", "idwise_events_inbox")

    assert one_error_line(default).endswith(
        "(the Django app's inbox is there: add --table idwise_events_inboxdelivery)"
    )
    assert "the Django app's inbox" not in one_error_line(named)
    listed = run("inbox", "list", "--db", str(database), "--table", "idwise_events_inboxdelivery")
    assert listed.returncode == 0, listed.stderr


@pytest.mark.parametrize(
    ("url", "says"),
    [
        # The common `postgres://` form (which SQLAlchemy alone refuses) is read as postgresql.
        ("postgres://app:S3cretPw@127.0.0.1:9/app", "postgresql://app:***@127.0.0.1:9/app"),
        ("postgresql://app:S3cretPw@db.internal:54 32/app", "is neither a database URL nor"),
        ("postgresql+psycopg://app@127.0.0.1:9/app?password=S3cretPw", "/app?password=***"),
        # An unencoded "@" splits the password: its end is neither shown nor taken as the host.
        ("postgresql://app:S3cret@Pw@127.0.0.1:9/app", "://***@127.0.0.1:9/app': the database"),
    ],
)
def test_a_database_that_cannot_be_opened_is_named_without_its_password(
    url: str, says: str
) -> None:
    for command in ("stats", "list"):
        line = one_error_line(run("inbox", command, "--db", url))

        assert says in line
        assert "S3cret" not in line
        assert "Pw" not in line


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["inbox", "show", "99999999999999999999"], "'DELIVERY_ID'"),
        (["inbox", "replay", "0"], "'[DELIVERY_ID]'"),
        (["inbox", "purge", "--older-than-days", "1000000"], "'--older-than-days'"),
        (["inbox", "purge", "--older-than-days", "nan"], "'--older-than-days'"),
        (["inbox", "purge", "--older-than-days", "0"], "'--older-than-days'"),  # IDWise retries
        (["worker", "--app", "webhook_app:dispatcher", "--grace", "inf"], "'--grace'"),
        (["worker", "--app", "webhook_app:dispatcher", "--poll", "1e12"], "'--poll'"),
    ],
)
def test_numbers_out_of_range_are_usage_errors_not_crashes(
    sqlite_inbox: tuple[str, dict[str, int]], args: list[str], option: str
) -> None:
    """An id past 64 bits or a day count past a century was an OverflowError, "a bug"."""
    db = ["--db", sqlite_inbox[0]] if args[0] == "inbox" else []
    result = run(*args, *db)

    assert result.returncode == 2
    assert f"Invalid value for {option}" in one_error_line(result)


def test_the_commands_work_on_postgresql(postgres: TemporaryPostgres | str) -> None:
    url = postgres_url(postgres)
    table = f"inbox_{uuid.uuid4().hex[:12]}"
    inbox = SqlInbox(url, table_name=table)
    ids = fill(inbox)

    listed = run("inbox", "list", "--db", url, "--table", table)
    replayed = run("inbox", "replay", "--dead", "--db", url, "--table", table)
    no_database = run("inbox", "list", "--db", url.rsplit("/", 1)[0] + "/no_such_database")

    assert listed.returncode == 0, listed.stderr
    assert "Manually Reviewed" in listed.stdout
    assert "Replaying 1 dead letter:" in replayed.stdout
    assert inbox.get(ids["dead"]) is not None
    assert inbox.stats()[DeliveryState.DEAD] == 0
    assert "password" not in listed.stderr
    assert 'database "no_such_database" does not exist' in one_error_line(no_database)
    inbox.close()


FAILING_APP = """
from datetime import timedelta
from pathlib import Path

from idwise_events import BearerAuth, Dispatcher
from idwise_events.inbox.sql import SqlInbox

HERE = Path(__file__).parent
inbox = SqlInbox(f"sqlite:///{HERE / 'inbox.db'}")
dispatcher = Dispatcher(verifier=BearerAuth("replay-test-token"), inbox=inbox)
no_inbox = Dispatcher(verifier=BearerAuth("replay-test-token"))


@dispatcher.on_accepted
def fails_at_once(delivery_id: int) -> None:  # a worker whose handler fails at once: dead again
    held = inbox.take(delivery_id, lease=timedelta(minutes=1))
    inbox.bury(delivery_id, held.token, error="KeyError: 'crm'")


@dispatcher.on_accepted
def broker_down(delivery_id: int) -> None:
    raise ConnectionError("broker at 127.0.0.1:1 refused the connection")
"""


def test_replay_dead_through_the_app_replays_each_letter_once_and_reports_failed_hooks(
    tmp_path: Path,
) -> None:
    """A letter that dies again at once is not replayed again; a hook that raises is one line.

    The deliveries are pending all the same (the sweep enqueues them): the command says so and
    exits 1.
    """
    inbox = SqlInbox(f"sqlite:///{tmp_path / 'inbox.db'}")
    dead = []
    for _ in range(3):
        delivery_id = accept_event(inbox).id
        held = inbox.take(delivery_id, lease=LEASE)
        assert held is not None
        inbox.bury(delivery_id, held.token, error="KeyError: 'crm'")
        dead.append(delivery_id)
    (tmp_path / "failing_app.py").write_text(FAILING_APP)

    every = run("inbox", "replay", "--dead", "--app", "failing_app:dispatcher", cwd=tmp_path)
    no_inbox = run("inbox", "replay", "--dead", "--app", "failing_app:no_inbox", cwd=tmp_path)

    assert (
        "Replaying 3 dead letters: an on_accepted hook raised (above), so the next sweep"
        " enqueues them" in every.stdout
    )
    assert "enqueued by" not in every.stdout
    assert [delivery.replays for delivery in inbox.deliveries()] == [1, 1, 1]
    assert every.returncode == 1
    assert "Traceback" not in every.stderr
    lines = every.stderr.splitlines()
    for delivery_id in dead:
        assert (
            f"hook broker_down raised ConnectionError: broker at 127.0.0.1:1 refused the"
            f" connection on replayed delivery {delivery_id}; it is pending, and the next sweep"
            f" enqueues it"
        ) in lines
    assert "an on_accepted hook raised (above)" in lines[-1]
    assert "failing_app:no_inbox has no inbox" in one_error_line(no_inbox)
    inbox.close()


def test_an_app_module_that_fails_on_import_is_reported_as_such(tmp_path: Path) -> None:
    """A setting the module reads is missing: one line naming the module, not "a bug"."""
    (tmp_path / "needs_settings.py").write_text(
        "import os\n\nDATABASE_URL = os.environ['DATABASE_URL']\n"
    )

    replay = run("inbox", "replay", "1", "--app", "needs_settings:dispatcher", cwd=tmp_path)
    worker = run("worker", "--app", "needs_settings:dispatcher", cwd=tmp_path)

    for result in (replay, worker):
        assert result.returncode == 1
        assert one_error_line(result).endswith(
            "--app: importing needs_settings raised KeyError: 'DATABASE_URL'; importing runs the"
            " module: give this command the settings and environment variables your server has"
        )


def test_an_app_attribute_built_on_first_use_that_fails_is_reported_as_such(
    tmp_path: Path,
) -> None:
    """As the Django app's dispatcher is, where a package it needs is missing."""
    (tmp_path / "lazy.py").write_text(
        "def __getattr__(name):\n    raise ModuleNotFoundError(\"No module named 'asgiref'\")\n"
    )

    replay = run("inbox", "replay", "1", "--app", "lazy:dispatcher", cwd=tmp_path)

    assert replay.returncode == 1
    assert one_error_line(replay).endswith(
        "--app: building lazy:dispatcher raised ModuleNotFoundError: No module named 'asgiref'"
    )


def test_an_app_module_refusing_to_start_without_credentials_is_quoted_whole(
    tmp_path: Path,
) -> None:
    """The library's own advice (verifier_from_env's, over 200 characters) is not cut short."""
    (tmp_path / "webhooks.py").write_text(
        "from idwise_events import Dispatcher, verifier_from_env\n\n"
        "dispatcher = Dispatcher(verifier=verifier_from_env())\n"
    )

    result = run("inbox", "replay", "1", "--app", "webhooks:dispatcher", cwd=tmp_path)

    assert result.returncode == 1
    line = one_error_line(result)
    assert "\u2026" not in line
    assert "IDWISE_WEBHOOK_AUTH=none to accept unauthenticated requests;" in line  # its end
