"""The command group, its commands, and every failure turned into one line on stderr."""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from ._demo import demo
from ._inbox import inbox
from ._listen import listen
from ._purge import purge
from ._schema import schema
from ._send import send
from ._terminal import MESSAGE_LIMIT, printable
from ._validate import validate
from ._worker import worker

# Set to 1 to see the traceback of an unexpected error (a bug to report) instead of one line.
_TRACEBACK_VARIABLE = "IDWISE_EVENTS_TRACEBACK"


class _Group(click.Group):
    """Lists its commands in the order they are added (the order to learn them in)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", "-V", prog_name="idwise-events")
def cli() -> None:
    """Try, inspect and test IDWise webhooks on your machine.

    Start with `idwise-events demo`. Then `listen` is a local receiver and `send` plays IDWise:

    \b
      idwise-events listen --bearer TOKEN
      idwise-events send "Finished Journey" --url http://127.0.0.1:8000/ --bearer TOKEN
    """  # noqa: D301 -- "\b" must be the backspace character: Click keeps the block as written


for _command in (demo, listen, send, validate, schema, purge, inbox, worker):
    cli.add_command(_command)


def run(args: list[str]) -> int:
    """Run the command line ``args``; return the exit status, having reported any error."""
    try:
        result = cli.main(args, prog_name="idwise-events", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help())
        return 0
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "idwise-events"
        _error(where, f"{exc.format_message()} (see '{where} --help')")
        return 2
    except click.ClickException as exc:
        _error(_command_path(args), exc.format_message())
        return exc.exit_code
    except click.exceptions.Abort:  # Ctrl-C outside listen, which stops cleanly by itself
        _error(_command_path(args), "interrupted")
        return 130
    except BrokenPipeError:  # `idwise-events schema | head`: the reader has all it wants
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- so that exiting flushes nowhere
        return 0
    except Exception as exc:
        if os.environ.get(_TRACEBACK_VARIABLE) == "1":
            raise
        _error(
            _command_path(args),
            f"unexpected {type(exc).__name__}: {exc} (a bug: set {_TRACEBACK_VARIABLE}=1 and"
            " report the traceback)",
        )
        return 1
    return result if isinstance(result, int) else 0


def _command_path(args: list[str]) -> str:
    """``idwise-events`` and the (sub)commands named in ``args``: ``idwise-events inbox stats``."""
    path = ["idwise-events"]
    group: click.Command = cli
    for arg in args:
        if not isinstance(group, click.Group):
            break
        command = group.commands.get(arg)
        if command is not None:
            path.append(arg)
            group = command
    return " ".join(path)


def _error(where: str, message: str) -> None:
    """Write ``where: error: message`` as exactly one line on stderr (others' text escaped)."""
    line = printable(" ".join(message.split()), limit=MESSAGE_LIMIT)
    sys.stderr.write(f"{where}: error: {line}\n")
    sys.stderr.flush()
