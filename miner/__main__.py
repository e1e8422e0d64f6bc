"""``python -m miner``: the same as the ``miner`` command."""

from miner.cli import main

main()
