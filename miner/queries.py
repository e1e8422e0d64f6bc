"""Canned queries: the SQL files in ``queries/`` with their header comments, shared by the CLI and Datasette.

Each file starts with comment lines::

    -- title: Threads per label per year
    -- description: How many threads carry each label, by year.
    -- param label: only this label; empty for every label
    -- param q (required): FTS5 query

Optional parameters default to the empty string, which every query reads as "no filter"
(or its stated default), so the same SQL runs unchanged as a Datasette canned query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from miner.errors import MinerError
from miner.package_data import packaged_folder
from miner.reading import run_readonly_sql
from miner.store import Store

QUERIES_DIR = Path(__file__).resolve().parent.parent / "queries"

_HEADER_LINE = re.compile(r"^--\s*(title|description):\s*(.*?)\s*$")
_PARAM_LINE = re.compile(r"^--\s*param\s+(\w+)\s*(\(required\))?\s*:\s*(.*?)\s*$")
_NAMED_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")
_STRING_OR_COMMENT = re.compile(r"'(?:[^']|'')*'|--[^\n]*")


@dataclass(frozen=True)
class QueryParam:
    """A named ``:parameter`` of a canned query."""

    name: str
    description: str
    required: bool = False


@dataclass(frozen=True)
class CannedQuery:
    """One ``queries/NAME.sql`` file: its name, header and SQL."""

    name: str
    title: str
    description: str
    params: tuple[QueryParam, ...]
    sql: str
    path: Path


def queries_dir() -> Path:
    """The canned queries: ``queries/`` as installed with the package (``miner.canned_queries``), or of the
    source tree when miner runs from a checkout without being installed."""
    return packaged_folder("miner.canned_queries", QUERIES_DIR, "canned queries")


def parse_query(name: str, text: str, path: Path) -> CannedQuery:
    """A canned query from the text of its file; its header must name every ``:parameter`` the SQL uses."""
    header: dict[str, str] = {}
    params: list[QueryParam] = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        if match := _PARAM_LINE.match(line):
            params.append(QueryParam(match.group(1), match.group(3), bool(match.group(2))))
        elif match := _HEADER_LINE.match(line):
            header[match.group(1)] = match.group(2)
    if "title" not in header:
        raise MinerError(f"{path}: no '-- title:' line in the header")
    used = set(_NAMED_PARAMETER.findall(_STRING_OR_COMMENT.sub("", text)))
    declared = {param.name for param in params}
    if used != declared:
        missing, unused = sorted(used - declared), sorted(declared - used)
        raise MinerError(f"{path}: header parameters do not match the SQL (undeclared: {missing}, unused: {unused})")
    return CannedQuery(name, header["title"], header.get("description", ""), tuple(params), text.strip(), path)


def load_queries(directory: Path | None = None) -> dict[str, CannedQuery]:
    """Every ``*.sql`` file of ``directory`` (default: :func:`queries_dir`), by name, sorted."""
    folder = directory or queries_dir()
    return {
        path.stem: parse_query(path.stem, path.read_text(encoding="utf-8"), path)
        for path in sorted(folder.glob("*.sql"))
    }


def get_query(name: str, directory: Path | None = None) -> CannedQuery:
    """The canned query called ``name``."""
    queries = load_queries(directory)
    if name not in queries:
        raise MinerError(f"{name}: no such canned query (known: {', '.join(queries)})")
    return queries[name]


def bind_params(query: CannedQuery, given: dict[str, str]) -> dict[str, str]:
    """Values for every parameter of ``query``: the given ones, '' for optional ones left out."""
    known = {param.name for param in query.params}
    unknown = sorted(set(given) - known)
    if unknown:
        raise MinerError(f"{query.name}: unknown parameter {', '.join(unknown)}"
                         f" (takes: {', '.join(sorted(known)) or 'none'})")
    values = {}
    for param in query.params:
        value = given.get(param.name, "")
        if param.required and not value:
            raise MinerError(f"{query.name}: parameter '{param.name}' is required ({param.description})")
        values[param.name] = value
    return values


def run_query(store: Store, name: str, params: dict[str, str] | None = None,
              directory: Path | None = None, timeout: float | None = None) -> tuple[list[str], list[tuple]]:
    """Run the canned query ``name`` read-only on ``store``: its column names and rows.

    ``timeout`` (seconds; None: no limit) stops it when it runs longer (see ``run_readonly_sql``).
    """
    query = get_query(name, directory)
    values = bind_params(query, params or {})
    try:
        return run_readonly_sql(store, query.sql, values, timeout=timeout)
    except MinerError as error:
        raise MinerError(f"{name}: {error}") from error
