"""The export's folder: refuse to mix with an earlier export, write aside, rename into place.

A reader of an export folder must never see old files beside new ones, or half-written files
that look complete. So every export is written into a hidden sibling folder
(``.NAME.partial-XXXXXXXX``) and renamed to ``NAME`` only once every file, the card and the
lineage are written. Replacing an earlier export (``--force``) renames it aside first, renames
the new one in, then deletes the old: a kill at any moment leaves the old export whole, or no
folder at ``NAME`` and the old one in ``.NAME.old-XXXXXXXX``; never a mixture.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from miner.errors import MinerError

PARTIAL_SUFFIX = ".partial-"
OLD_SUFFIX = ".old-"


def check_target(out: Path, db_path: Path, force: bool) -> None:
    """Refuse an ``out`` that is a file, is not empty (unless ``force``), or holds the database or the cwd."""
    if out.exists() and not out.is_dir():
        raise MinerError(f"{out}: exists and is not a directory")
    if not out.is_dir():
        return
    entries = sorted(entry.name for entry in out.iterdir())
    if entries and not force:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise MinerError(f"{out}: folder is not empty ({len(entries)} entries: {shown}); pass --force to replace"
                         " its whole content, or choose another --out")
    resolved = out.resolve()
    for inside, what in ((db_path, "the database"), (Path.cwd(), "the current directory")):
        here = inside.resolve()
        if here == resolved or resolved in here.parents:
            raise MinerError(f"{out}: holds {what} ({inside}); --force would delete it, choose another --out")


def _sibling(out: Path, suffix: str) -> Path:
    return out.parent / f".{out.name}{suffix}{secrets.token_hex(4)}"


def _remove_leftovers(out: Path) -> None:
    """Delete the hidden folders of earlier exports to ``out`` that were killed before they finished."""
    for pattern in (f".{out.name}{PARTIAL_SUFFIX}*", f".{out.name}{OLD_SUFFIX}*"):
        for leftover in out.parent.glob(pattern):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A new hidden sibling folder of ``out`` to write into; renamed to ``out`` when the block succeeds."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(out)
        staging = _sibling(out, PARTIAL_SUFFIX)
        staging.mkdir()
    except OSError as error:
        raise MinerError(f"{out}: cannot write an export here ({error.strerror or error})") from error
    try:
        yield staging
        _replace(out, staging)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise MinerError(f"{out}: could not write the export ({error.strerror or error});"
                         " nothing was changed") from error
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace(out: Path, staging: Path) -> None:
    """Put ``staging`` at ``out``: directly when ``out`` is absent or empty, else by moving the old one aside."""
    if out.is_dir() and any(out.iterdir()):
        old = _sibling(out, OLD_SUFFIX)
        os.rename(out, old)
        os.rename(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)  # rename(2) replaces an empty directory in one step
