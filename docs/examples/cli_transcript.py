"""Run the ``idwise-events`` command for real and keep its output for the docs' CLI page.

    python docs/examples/cli_transcript.py          # rewrite docs/cli/*.txt
    python docs/examples/cli_transcript.py --check  # exit 1 if they differ from a fresh run

Every command runs as a user would type it, in a temporary folder, against a real ``listen`` on
loopback. What changes from run to run is then made stable: ports become 8000, 8001...,
random eventIds become fixed ones, clock times 14:02:11, and temporary folders /srv/app. The test
suite runs ``--check``, so the page cannot drift from what the command prints.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

OUTPUT = Path(__file__).parent.parent / "cli"
SCRIPT = Path(sys.executable).parent / "idwise-events"
TOKEN = "test-token-change-me"  # noqa: S105 -- the made-up token the docs show
WAIT = 60.0
SCHEMA_LINES = 14


class Session:
    """Runs commands in one folder and makes their output stable."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ports: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("IDWISE_")},
            "COLUMNS": "100",
            "NO_COLOR": "1",
            "TERM": "dumb",
        }

    def run(self, *args: str, limit: int | None = None) -> str:
        """``$ idwise-events ARGS`` and what it printed (stdout, then stderr), ``limit`` lines."""
        result = subprocess.run(  # noqa: S603 -- our own script, fixed arguments
            [str(SCRIPT), *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )
        printed = (result.stdout + result.stderr).splitlines()
        if limit is not None and len(printed) > limit:
            printed = [*printed[:limit], "…"]
        return self.stable("\n".join([self.command(*args), *printed]))

    def command(self, *args: str) -> str:
        """The command line as a user types it."""
        return "$ " + shlex.join(["idwise-events", *args])

    def stable(self, text: str) -> str:
        """The text with ports, eventIds, times and temporary folders made the same every run."""
        text = text.replace(str(self.folder), "/srv/app")
        # The demo's temporary store: a name to rewrite, not a file to use (hence the noqa).
        demo_store, shown = r"/tmp/idwise-events-demo-\w+", "/tmp/idwise-events-demo-7q2m4k"  # noqa: S108
        text = re.sub(demo_store, shown, text)
        text = re.sub(r"127\.0\.0\.1:(\d+)", lambda m: f"127.0.0.1:{self._port(m[1])}", text)
        text = re.sub(
            r"\b[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\b",
            self._event_id,
            text,
        )
        return re.sub(r"^\d\d:\d\d:\d\d ", "14:02:11 ", text, flags=re.MULTILINE) + "\n"

    def _port(self, port: str) -> str:
        return self.ports.setdefault(port, str(8000 + len(self.ports)))

    def _event_id(self, found: re.Match[str]) -> str:
        # A random (version 4) id becomes a fixed one; the demo's stable ids are version 5.
        return self.ids.setdefault(
            found[0], str(uuid.uuid5(uuid.NAMESPACE_URL, str(len(self.ids))))
        )


def capture(folder: Path) -> dict[str, str]:
    """Every transcript the CLI page shows, by file name."""
    session = Session(folder)
    transcripts = {"help": session.run("--help")}
    session.ports = {}  # the help's example port is not the demo's
    transcripts["demo"] = session.run("demo")

    listener = subprocess.Popen(  # noqa: S603 -- our own script, fixed arguments
        [str(SCRIPT), "listen", "--bearer", TOKEN, "--port", "0"],
        cwd=folder,
        env=session.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert listener.stderr is not None  # piped just above
    banner = listener.stderr.readline().rstrip("\n")
    found = re.search(r"http://127\.0\.0\.1:\d+/", banner)
    if found is None:
        listener.kill()
        raise RuntimeError(f"listen did not start: {banner}")
    url = found[0]
    # Ports are numbered anew from here: listen's own shows as 8000, its default.
    session.ports = {re.findall(r"\d+", url)[-1]: "8000"}
    changes = ["--set", "updatedAMLVersionNumber=2", "--set", "riskScore=0.7"]
    sends = [
        session.run("send", "Finished Journey", "--url", url, "--bearer", TOKEN, "--repeat", "2"),
        session.run("send", "finished-journey", "--url", url, "--bearer", "guessed"),
        session.run("send", "AML Monitor Update", "--url", url, "--bearer", TOKEN, *changes),
        session.run(
            "send", "Finished Journey", "--url", url, "--bearer", TOKEN, "--set", "journeyId=null"
        ),
    ]
    listener.send_signal(signal.SIGINT)
    out, rest = listener.communicate(timeout=WAIT)
    shown = session.command("listen", "--bearer", TOKEN)
    transcripts["listen"] = session.stable(
        "\n".join([shown, banner, out.rstrip("\n"), "^C", rest.rstrip("\n")])
    )
    transcripts["send"] = "\n".join(sends)

    deliveries = folder / "deliveries.jsonl"
    deliveries.write_text(
        '{"event": "Finished Journey", "body": {"eventId": "e-1", "journeyId": "j-1",'
        ' "systemDecision": "Complete", "riskScore": 0.2}}\n'
        '{"event": "Manually Reviewed", "body": {"eventId": "e-2", "journeyId": "j-2"}}\n'
        '{"event": "Journey Archived", "body": {"eventId": "e-3"}}\n'
    )
    transcripts["validate"] = session.run("validate", "deliveries.jsonl")
    transcripts["schema"] = session.run(
        "schema", "--type", "Finished Spot Check", limit=SCHEMA_LINES
    )
    transcripts["purge"] = session.run("purge", "--db", "idwise-events-listen.db")
    closed = re.sub(r":\d+/", f":{free_port()}/", url)
    transcripts["errors"] = "\n".join(
        [
            session.run("send", "Finished Journey", "--url", closed),
            session.run("send", "Finished Jorney", "--url", url),
            session.run("listen", "--basic", "idwise"),
        ]
    )
    return transcripts


def free_port() -> int:
    """A port nothing listens on (it was free a moment ago)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="idwise-events-docs-") as folder:
        transcripts = capture(Path(folder).resolve())
    if "--check" not in argv:
        OUTPUT.mkdir(exist_ok=True)
        for name, text in transcripts.items():
            (OUTPUT / f"{name}.txt").write_text(text)
        return 0
    stale = 0
    for name, text in transcripts.items():
        path = OUTPUT / f"{name}.txt"
        kept = path.read_text() if path.exists() else ""
        if kept != text:
            stale += 1
            diff = difflib.unified_diff(
                kept.splitlines(), text.splitlines(), str(path), "a fresh run", lineterm=""
            )
            print("\n".join(diff))
    if stale:
        print(f"{stale} transcripts are out of date: run python {Path(__file__).as_posix()}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
