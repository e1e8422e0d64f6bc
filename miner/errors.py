"""Exceptions whose messages a user can act on; the CLI prints them as one line."""

import signal


class MinerError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""


# A Ctrl-C that arrives while SQLite runs a Python function (the text functions of miner.textstore)
# leaves the statement as "user-defined function raised exception": sqlite3 drops the
# KeyboardInterrupt. The CLI's SIGINT handler remembers it, so the error is taken for the interrupt.
_interrupt_seen = False


def _noting_interrupt(signum, frame) -> None:
    global _interrupt_seen
    _interrupt_seen = True
    signal.default_int_handler(signum, frame)  # raises KeyboardInterrupt, as without this handler


def note_interrupts() -> None:
    """Take SIGINT as Python does by default (KeyboardInterrupt), remembering that it came."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _noting_interrupt)


def raise_if_interrupted(error: BaseException) -> None:
    """Raise KeyboardInterrupt (from ``error``) when a Ctrl-C came: the error is its doing."""
    if _interrupt_seen:
        raise KeyboardInterrupt from error
