"""The ``miner`` command: parses options and calls the library, nothing more."""

from __future__ import annotations

import sys

import click

from miner import __version__
from miner.errors import MinerError


@click.group()
@click.version_option(__version__, prog_name="miner")
def cli() -> None:
    """lkml-miner: LKML threads in SQLite, tagged deadlock / race / ordering."""


def main() -> None:
    """Console entry point: run the CLI, turning MinerError into a one-line error."""
    try:
        cli(standalone_mode=False)
    except MinerError as error:
        click.echo(f"miner: error: {error}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("miner: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        click.echo("miner: interrupted; run the same command again to resume", err=True)
        sys.exit(130)
