"""Exceptions whose messages a user can act on; the CLI prints them as one line."""


class MinerError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""
