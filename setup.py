"""Packaging beyond what pyproject.toml can say: the top-level queries/ and data/sample/ folders
ship inside the wheel as the packages ``miner.canned_queries`` and ``miner.sample``."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["miner", "miner.*"]), "miner.canned_queries", "miner.sample"],
    package_dir={"miner.canned_queries": "queries", "miner.sample": "data/sample"},
    package_data={
        "miner": ["py.typed", "*.zdict", "**/*.html", "**/*.json", "**/*.sql", "**/*.css", "**/*.tsv"],
        "miner.canned_queries": ["*.sql"],
        "miner.sample": ["*.md", "mail/*/*.mbox", "seeds/*"],
    },
)
