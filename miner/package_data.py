"""Data folders that ship with the package: found in the installed wheel, or in a source checkout."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from miner.errors import MinerError


def packaged_folder(package: str, checkout: Path, what: str) -> Path:
    """A data folder shipped as ``package`` in the wheel (setup.py maps it), else its place in a checkout."""
    try:
        spec = importlib.util.find_spec(package)  # a folder without __init__.py: a namespace package
    except ModuleNotFoundError:
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    folder = Path(locations[0]) if locations else checkout
    if folder.is_dir():
        return folder
    if checkout.is_dir():
        return checkout
    raise MinerError(f"{checkout}: {what} folder not found (reinstall lkml-miner: pip install lkml-miner)")
