"""The runtime's error: a plain exception, turned into a message and an exit status only at the command line."""
from __future__ import annotations

import os
import sys
from collections.abc import Callable


class StackError(Exception):
    """A part could not be started, stopped or reached as asked; the message says why and what to do."""


def exit_status(main: Callable[..., int | None], *args, unreachable: tuple[type[BaseException], ...] = (),
                hint: str = "") -> int:
    """Run a command-line entry point: its own exit status, or 1 with the message on stderr for a StackError.
    A reader that closes the pipe early (`make logs | head`) ends the output quietly, as `cat` does.
    `unreachable`: the client library's "no broker answers" errors, said in one line with `hint` (what to start)."""
    try:
        return main(*args) or 0
    except StackError as err:
        print(err, file=sys.stderr)
        return 1
    except unreachable as err:
        print(f"{hint} ({type(err).__name__}{': ' + str(err) if str(err) else ''})", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # Python would flush stdout again at exit and print a second traceback: point it at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
