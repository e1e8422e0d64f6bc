"""lkml-miner: Linux kernel mailing-list archives as a research database."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/lkml-miner/lkml-miner"
