"""The ``miner`` command: parses options and calls the library, nothing more."""

from __future__ import annotations

import functools
import json
import os
import signal
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from miner import __version__
from miner.errors import MinerError, note_interrupts, raise_if_interrupted
from miner.fetch.settings import DEFAULT_MAX_MATCHES, DEFAULT_MAX_PAGES, LORE_BASE_URL, HttpConfig, ScrapeOptions
from miner.output import FORMATS, render
from miner.reading import DEFAULT_QUERY_TIMEOUT
from miner.serve import DEFAULT_HOST, DEFAULT_PORT
from miner.store import BATCH_SIZE, DEFAULT_DB, database_error, open_store
from miner.workers import MAX_DEFAULT_WORKERS


class LibraryChoice(click.Choice):
    """A choice among names the library keeps (labels, archives), read from it when first needed.

    The modules that keep them are slow to import; the command line starts without them.
    """

    def __init__(self, load_choices):
        self._load_choices = load_choices
        self.case_sensitive = True

    @functools.cached_property
    def choices(self):
        return tuple(self._load_choices())


def _labels() -> tuple[str, ...]:
    from miner.classify.patterns import LABELS

    return LABELS


def _archive_names() -> tuple[str, ...]:
    from miner.fetch.archives import ARCHIVE_NAMES

    return ARCHIVE_NAMES


LABEL_CHOICE = LibraryChoice(_labels)
HTTP_DEFAULTS = HttpConfig()


class MinerGroup(click.Group):
    """The command group; any SQLite or file-system failure of a command becomes a one-line MinerError."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except sqlite3.Error as error:
            raise_if_interrupted(error)
            raise database_error(ctx.meta.get(DB_PATH_KEY, "database"), error) from error
        except OSError as error:
            if isinstance(error, BrokenPipeError):
                raise
            where = error.filename or ctx.meta.get(DB_PATH_KEY)
            text = error.strerror or str(error)
            raise MinerError(f"{where}: {text}" if where else text) from error


@click.group(cls=MinerGroup)
@click.version_option(__version__, prog_name="miner")
def cli() -> None:
    """lkml-miner: LKML threads in SQLite, tagged deadlock / race / ordering."""


DB_PATH_KEY = "miner.db_path"
SQLITE_MAX_INTEGER = 2**63 - 1


def _remember_db(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    """Keep the --db path where the error guard of MinerGroup finds it, to name it in one-line errors."""
    ctx.meta[DB_PATH_KEY] = value
    return value


db_option = click.option(
    "--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_DB, show_default=True,
    help="SQLite database file.", callback=_remember_db,
)
limit_option = click.option("--limit", type=click.IntRange(1, SQLITE_MAX_INTEGER), help="At most this many threads.")
workers_option = click.option("--workers", type=click.IntRange(1, 64), default=None,
                              help=f"Worker processes (default: up to {MAX_DEFAULT_WORKERS}).")
format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@db_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
@workers_option
@click.option("--batch-size", type=click.IntRange(1), default=BATCH_SIZE, show_default=True,
              help="Messages stored per transaction (an interrupted run loses at most one batch).")
def ingest(paths: tuple[Path, ...], db_path: Path, quiet: bool, workers: int | None, batch_size: int) -> None:
    """Ingest mbox/mboxrd (.gz), Maildir, .eml, public-inbox git epochs or archive-page text."""
    from miner.ingest import ingest_paths

    for path in paths:  # check before creating a database
        if not path.exists():
            raise MinerError(f"{path}: no such file or directory")
    with open_store(db_path, check=True) as store:
        summary = ingest_paths(store, paths, progress=not quiet, workers=workers, batch_size=batch_size)
    click.echo(summary.line())
    for problem in summary.problems():
        click.echo(f"miner: {problem}", err=True)
    if summary.problems():
        sys.exit(1)


DEFAULT_TABLE_LIMIT = 50  # table output only: csv, json and jsonl give every row unless --limit says otherwise
# the table leaves out first_date (csv, json and jsonl have it) to leave room for the subject
THREAD_TABLE_KEYS = ("thread_id", "root_message_id", "subject", "messages", "last_date", "lists", "labels", "lore_url")
THREAD_TABLE_KEEP = ("thread_id", "root_message_id", "last_date", "lore_url")  # never shortened: text to paste


@cli.command()
@db_option
@click.option("--label", "labels", type=LABEL_CHOICE, multiple=True,
              help="Only threads with this label; repeat it for threads carrying every label given.")
@click.option("--list", "list_id", help="Only threads seen on this List-Id (e.g. linux-btrfs.vger.kernel.org).")
@click.option("--search", metavar="TEXT",
              help="Only threads with a message matching TEXT: words, identifiers (lock-order, READ_ONCE()),"
              ' "quoted phrases".')
@click.option("--fts5", is_flag=True, help="Read --search TEXT as raw FTS5 syntax (NEAR, column filters).")
@click.option("--min-messages", type=click.IntRange(1), help="Only threads with at least this many messages.")
@click.option("--sort", type=click.Choice(("last", "first", "messages", "score")), default="last",
              show_default=True, help="Latest activity, latest start, most messages, or best label score first.")
@click.option("--since", help="Only threads active on or after this date (YYYY-MM-DD or ISO 8601 with offset).")
@click.option("--until", help="Only threads started before this date (YYYY-MM-DD or ISO 8601 with offset).")
@click.option("--limit", type=click.IntRange(1, SQLITE_MAX_INTEGER),
              help=f"At most this many threads (default for a table: {DEFAULT_TABLE_LIMIT}; other formats: all).")
@format_option
def threads(db_path: Path, labels: tuple[str, ...], list_id: str | None, search: str | None, fts5: bool,
            min_messages: int | None, sort: str, since: str | None, until: str | None, limit: int | None,
            fmt: str) -> None:
    """List threads, most recently active first, with the Message-ID and lore link of each."""
    from miner.output import terminal_width
    from miner.reading import THREAD_KEYS, count_threads, list_threads, unclassified_threads

    if fts5 and search is None:
        raise MinerError("--fts5 reads the --search text as FTS5 syntax: give --search TEXT too")
    shown = limit if limit is not None else (DEFAULT_TABLE_LIMIT if fmt == "table" else None)
    filters = dict(since=_date(since, "--since"), until=_date(until, "--until"), list_id=list_id, search=search,
                   min_messages=min_messages, raw_search=fts5)
    with open_store(db_path, create=False) as store:
        rows = list_threads(store, labels, limit=shown, sort=sort, **filters)
        total = count_threads(store, labels, **filters) if limit is None and shown == len(rows) else len(rows)
        unclassified = unclassified_threads(store) if labels else 0
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif rows or fmt != "jsonl":
        keys = THREAD_TABLE_KEYS if fmt == "table" else THREAD_KEYS
        click.echo(render(keys, [[r[k] for k in keys] for r in rows], fmt,
                          width=terminal_width() if fmt == "table" else None, keep=THREAD_TABLE_KEEP))
    if limit is None and total > len(rows):  # the default limit cut the list: say so (an explicit one did not)
        click.echo(f"{total - len(rows):,} more threads; use --limit {total} to see them all", err=True)
    if unclassified:
        click.echo(f"{unclassified:,} threads not classified yet: run miner classify --db {db_path}", err=True)


@cli.command()
@click.argument("reference", metavar="MESSAGE")
@db_option
@click.option("--body", is_flag=True, help="Print every message: its new text, with quoted runs folded.")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True,
              help="json: the reply tree with labels, evidence and the bug record (if any).")
def show(reference: str, db_path: Path, body: bool, fmt: str) -> None:
    """Print the thread of MESSAGE as an indented tree, with labels and evidence.

    MESSAGE is a Message-ID (with or without <>), a thread number from 'miner threads', or a
    lore.kernel.org / lkml.kernel.org URL.
    """
    from miner.reading import (find_thread, render_bodies, render_labels, render_tree, thread_document,
                               thread_labels, thread_tree_of)

    with open_store(db_path, create=False) as store:
        thread_id, message_id = find_thread(store, reference)
        roots = thread_tree_of(store, thread_id)
        if fmt == "json":
            click.echo(json.dumps(thread_document(store, thread_id, roots), indent=2, ensure_ascii=False))
            return
        labels = thread_labels(store, thread_id)
        bodies = render_bodies(store, roots, mark=message_id) if body else []
    click.echo(f"thread {thread_id}")
    for line in render_tree(roots, mark=message_id):
        click.echo(line)
    for line in render_labels(labels):
        click.echo(line)
    for line in bodies:
        click.echo(line)


query_timeout_option = click.option(
    "--timeout", type=click.FloatRange(0), default=DEFAULT_QUERY_TIMEOUT, show_default=True,
    help="Stop the query after this many seconds (0: no limit).")


@cli.command()
@click.argument("query")
@db_option
@format_option
@query_timeout_option
def sql(query: str, db_path: Path, fmt: str, timeout: float) -> None:
    """Run read-only SQL (writes are refused)."""
    from miner.reading import run_readonly_sql

    with open_store(db_path, create=False) as store:
        columns, rows = run_readonly_sql(store, query, timeout=timeout)
    click.echo(render(columns, rows, fmt))


@cli.command()
@click.argument("name", required=False)
@db_option
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="A :parameter of the query.")
@format_option
@query_timeout_option
def query(name: str | None, db_path: Path, params: tuple[str, ...], fmt: str, timeout: float) -> None:
    """Without NAME: list the canned queries (queries/*.sql). With NAME: run that one."""
    from miner.queries import load_queries, run_query

    if name is None:
        listing = [(q.name, ", ".join(p.name for p in q.params), q.title, q.description)
                   for q in load_queries().values()]
        click.echo(render(("name", "params", "title", "description"), listing, fmt))
        return
    values = {}
    for param in params:
        key, sep, value = param.partition("=")
        if not sep:
            raise MinerError(f"--param {param!r}: expected KEY=VALUE")
        values[key.strip()] = value
    with open_store(db_path, create=False) as store:
        columns, rows = run_query(store, name, values, timeout=timeout)
    click.echo(render(columns, rows, fmt))


@cli.command()
@db_option
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port to listen on.")
def serve(db_path: Path, host: str, port: int) -> None:
    """Browse the database in Datasette (read-only), with thread pages at /-/thread/<Message-ID>."""
    from miner.serve import serve as run_server

    with open_store(db_path, create=False) as store:
        run_server(store, host=host, port=port, announce=lambda: click.echo(
            f"Serving {db_path} read-only at http://{host}:{port}/ (Ctrl-C to stop)"))


@cli.command()
@db_option
@click.option("--format", "fmt", type=click.Choice(("csv", "jsonl", "parquet", "mbox")), required=True)
@click.option("--label", type=LABEL_CHOICE, help="Only threads with this label.")
@click.option("--since", help="Only threads active on or after this date (YYYY-MM-DD or ISO 8601 with offset).")
@click.option("--until", help="Only threads started before this date (YYYY-MM-DD or ISO 8601 with offset).")
@click.option("--list", "list_id", help="Only threads seen on this List-Id (e.g. io-uring.vger.kernel.org).")
@click.option("--pseudonymize", is_flag=True, help="Replace names and addresses by salted hashes (not for mbox).")
@click.option("--salt", help="Salt for --pseudonymize (same salt, same pseudonyms; default: random).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write into (absent or empty, unless --force).")
@click.option("--force", is_flag=True, help="Replace the whole content of a non-empty --out folder.")
def export(db_path: Path, fmt: str, label: str | None, since: str | None, until: str | None,
           list_id: str | None, pseudonymize: bool, salt: str | None, out_dir: Path, force: bool) -> None:
    """Export threads, messages, labels, evidence and bugs (Parquet: Hive list=/year= folders) or raw mail as mbox."""
    from miner.export import Selection, export_dataset

    selection = Selection(label, _date(since, "--since"), _date(until, "--until"), list_id)
    command = "miner export " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["export"] else None
    with open_store(db_path, create=False) as store:
        summary = export_dataset(store, out_dir, fmt, selection, pseudonymize, salt, command, force=force)
    click.echo(summary.line())


@cli.command()
@db_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write index.html and the charts into.")
def report(db_path: Path, out_dir: Path) -> None:
    """Write an HTML page of charts (labels per year, top subsystems, co-occurrence) with their numbers."""
    from miner.report import write_report

    with open_store(db_path, create=False) as store:
        page = write_report(store, out_dir)
    click.echo(f"report written to {page}")


@cli.command()
@db_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--force", is_flag=True, help="Re-tag every thread, changed or not.")
@workers_option
def classify(db_path: Path, quiet: bool, force: bool, workers: int | None) -> None:
    """Tag every new or changed thread deadlock / race / ordering, with evidence."""
    from miner.classify.store import classify_database

    with open_store(db_path, create=False, check=True) as store:
        summary = classify_database(store, progress=not quiet, force=force, workers=workers)
    click.echo(summary.line())


@cli.command()
@db_option
@click.option("--label", type=LABEL_CHOICE, help="Only threads with this label.")
@click.option("--since", help="Only bugs first reported on or after this date (YYYY-MM-DD or ISO 8601 with offset).")
@format_option
def bugs(db_path: Path, label: str | None, since: str | None, fmt: str) -> None:
    """Bug records of labelled threads: locks, functions, tools, patches, reviews, Fixes, merge evidence."""
    from miner.bugs.store import RECORD_KEYS, TABLE_KEYS, list_bugs

    with open_store(db_path, create=False) as store:
        records = list_bugs(store, label, _date(since, "--since"))
    keys = RECORD_KEYS if fmt != "table" else TABLE_KEYS
    if fmt == "json":
        click.echo(json.dumps([{key: r[key] for key in keys} for r in records], indent=2, ensure_ascii=False))
    else:  # lists as JSON text in CSV cells and table columns
        click.echo(render(keys, [[json.dumps(r[key], ensure_ascii=False) if isinstance(r[key], list) else r[key]
                                  for key in keys] for r in records], fmt))


@cli.command(name="link-commits")
@click.option("--repo", "repo", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="A local kernel git clone (read with git log; no network).")
@click.option("--since", help="Only commits dated on or after this date (first run; later runs read new commits).")
@db_option
def link_commits_command(repo: Path, since: str | None, db_path: Path) -> None:
    """Match commits of a kernel clone to threads (Link:/Message-ID: trailers, else subject and author)."""
    from miner.bugs.git import link_commits

    with open_store(db_path, create=False, check=True) as store:
        summary = link_commits(store, repo, _date(since, "--since"))
    click.echo(summary.line())


@cli.command()
@db_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def demo(db_path: Path, quiet: bool) -> None:
    """Build the database from the bundled sample (data/sample/) and say what to try next."""
    from miner.demo import run_demo

    with open_store(db_path) as store:  # closed (and its log folded) before the lines are shown
        lines = run_demo(store, progress=not quiet)
    for line in lines:
        click.echo(line)


@cli.command()
@click.option("--jsonl", "jsonl_path", required=True, metavar="FILE",
              help="Input: one JSON object per line with id, subject, text ('-' = stdin).")
def tag(jsonl_path: str) -> None:
    """Label each message of a JSONL file; one JSON line out per line in, same order.

    Output per line: {"id", "labels", "scores", "evidence": [{"label", "pattern", "line",
    "text", "quoted"}]}.  A malformed input line stops the run with an error naming its line
    number (exit status 1); the lines before it have already been written.
    """
    from miner.classify import classify_message
    from miner.classify.items import open_input, read_items, tag_line

    name = "<stdin>" if jsonl_path == "-" else jsonl_path
    with open_input(jsonl_path) as stream:
        for item in read_items(stream, name):
            click.echo(tag_line(item.id, classify_message(item.subject, item.text, str(item.id))))


@cli.command(name="eval")
@click.argument("jsonl_paths", metavar="FILE.jsonl...", nargs=-1, required=True)
@click.option("--errors", is_flag=True, help="List every miss with its evidence.")
@click.option("--baseline", is_flag=True, help="Show the keyword-regex baseline beside it.")
@click.option("--by-list", is_flag=True,
              help="Per-list scores, leave-one-list-out scores of refitted weights, reliability table.")
def evaluate_command(jsonl_paths: tuple[str, ...], errors: bool, baseline: bool, by_list: bool) -> None:
    """Precision, recall and F1 of the classifier on hand-labelled JSONL (id, subject, text, labels)."""
    from miner.classify import CLASSIFIER_VERSION
    from miner.classify.evaluate import evaluate, format_evaluation, format_generalisation, generalisation
    from miner.classify.items import open_input, read_items

    items = []
    for jsonl_path in jsonl_paths:
        name = "<stdin>" if jsonl_path == "-" else jsonl_path
        with open_input(jsonl_path) as stream:
            items += list(read_items(stream, name, need_labels=True))
    names = ", ".join("<stdin>" if path == "-" else path for path in jsonl_paths)
    if not items:
        raise MinerError(f"{names}: no items to evaluate")
    click.echo(f"classifier {CLASSIFIER_VERSION} on {names}")
    click.echo(format_evaluation(evaluate(items, with_baseline=baseline), show_errors=errors))
    if by_list:
        try:
            report = generalisation(items)
        except ValueError as error:
            raise MinerError(str(error)) from None
        click.echo("")
        click.echo(format_generalisation(report))


def scrape_options(command):
    """Options every network command shares (identity, pace, patience, offline, progress, classify), given to
    the command as one ``options`` (:class:`~miner.fetch.settings.ScrapeOptions`) with its ``db_path``."""
    options = [
        click.option("--rate", type=float, default=HTTP_DEFAULTS.rate, show_default=True,
                     help="Requests per second per host (0 = no limit)."),
        click.option("--user-agent", default=HTTP_DEFAULTS.user_agent, show_default=True, help="User-Agent header."),
        click.option("--timeout", type=float, default=HTTP_DEFAULTS.timeout, show_default=True,
                     help="Seconds to wait for a reply."),
        click.option("--deadline", type=float, default=HTTP_DEFAULTS.deadline, show_default=True,
                     help="Seconds one whole response may take, however slowly it trickles in."),
        click.option("--retries", type=click.IntRange(0), default=HTTP_DEFAULTS.retries, show_default=True,
                     help="Retries on errors, 429 and 5xx."),
        click.option("--max-wait", type=float, default=HTTP_DEFAULTS.max_wait, show_default=True,
                     help="Longest wait before a retry; a Retry-After asking for more gives up."),
        click.option("--allow-host", "allow_hosts", multiple=True, metavar="HOST",
                     help="Another host that redirects may lead to (repeatable; default: the same host only)."),
        click.option("--offline", is_flag=True, help="No network: re-parse responses from the raw cache."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
        click.option("--no-classify", is_flag=True,
                     help="Leave what was fetched unlabelled (run 'miner classify' later)."),
        db_option,
    ]

    @functools.wraps(command)
    def run(*args, rate, user_agent, timeout, deadline, retries, max_wait, allow_hosts, offline, quiet, no_classify,
            **kwargs):
        http = HttpConfig(user_agent=user_agent, rate=rate, timeout=timeout, deadline=deadline, retries=retries,
                          max_wait=max_wait, allow_hosts=allow_hosts, offline=offline)
        return command(*args, options=ScrapeOptions(http, progress=not quiet, classify=not no_classify), **kwargs)

    for option in reversed(options):
        run = option(run)
    return run


@contextmanager
def _session(db_path: Path, options: ScrapeOptions):
    """The store and a polite session as ``options`` say, both closed when the command ends."""
    from miner.fetch.scrape import open_session

    with open_store(db_path, check=True) as store:
        session = open_session(store, options.http)
        try:
            yield store, session
        finally:
            session.close()


def _classify_fetched(store, options: ScrapeOptions) -> None:
    """Label what a scrape or sync stored, unless --no-classify."""
    from miner.fetch.scrape import classify_fetched

    summary = classify_fetched(store, options)
    if summary is not None:
        click.echo(summary.line())


max_matches_option = click.option(
    "--max-matches", type=click.IntRange(0), default=DEFAULT_MAX_MATCHES, show_default=True,
    help="Matches one search follows at most (0 = no cap); the summary says when the cap cut it.")


@cli.group()
def scrape() -> None:
    """Fetch mail from lore.kernel.org (search or git) and legacy web archives, politely and resumably."""


@scrape.command(name="lore")
@click.option("--list", "list_name", required=True, help="Inbox name, e.g. lkml or linux-btrfs.")
@click.option("--query", default="", help="public-inbox search, e.g. 's:deadlock' (see /_/text/help/).")
@click.option("--since", help="Messages dated on or after YYYY-MM-DD.")
@click.option("--until", help="Messages dated up to YYYY-MM-DD (inclusive).")
@click.option("--limit", type=click.IntRange(1, SQLITE_MAX_INTEGER),
              help="At most this many search results (newest first).")
@click.option("--msgid", help="Fetch the one thread holding this Message-ID instead of searching.")
@click.option("--base-url", default=LORE_BASE_URL, show_default=True)
@max_matches_option
@scrape_options
def scrape_lore_command(list_name, query, since, until, limit, msgid, base_url, max_matches, db_path,
                        options: ScrapeOptions) -> None:
    """Search a public-inbox list and store every matching thread (one t.mbox.gz request per thread)."""
    from miner.fetch.scrape import LoreScrape, scrape_lore, scrape_lore_thread
    from miner.fetch.lore import LoreTarget

    with _session(db_path, options) as (store, session):
        if msgid:
            summary = scrape_lore_thread(store, session, LoreTarget(base_url, list_name), msgid,
                                         progress=options.progress)
        else:
            wanted = LoreScrape(base_url, list_name, query or "", _day(since, "--since") or "",
                                _day(until, "--until") or "", limit)
            summary = scrape_lore(store, session, wanted, progress=options.progress, max_matches=max_matches or None)
        click.echo(summary.line())
        _classify_fetched(store, options)


@scrape.command(name="lore-git")
@click.option("--list", "list_name", required=True, help="Inbox name, e.g. lkml.")
@click.option("--epoch", type=click.IntRange(0), required=True, help="Epoch number (the N of <list>/N).")
@click.option("--base-url", default=LORE_BASE_URL, show_default=True)
@click.option("--mirrors", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where git mirrors are kept (default: mirrors/ beside the database).")
@scrape_options
def scrape_lore_git_command(list_name, epoch, base_url, mirrors, db_path, options: ScrapeOptions) -> None:
    """Clone or fetch a public-inbox epoch repository and ingest its new commits (the bulk path)."""
    from miner.fetch.scrape import scrape_lore_git
    from miner.fetch.lore import LoreTarget

    with _session(db_path, options) as (store, session):
        summary = scrape_lore_git(store, session, LoreTarget(base_url, list_name), epoch,
                                  mirrors or db_path.parent / "mirrors", progress=options.progress)
        click.echo(summary.line())
        _classify_fetched(store, options)


@scrape.command(name="url")
@click.argument("urls", nargs=-1, required=True)
@click.option("--max-pages", type=click.IntRange(1), default=DEFAULT_MAX_PAGES, show_default=True,
              help="Pages to fetch at most.")
@click.option("--archive", type=LibraryChoice(_archive_names), default=None,
              help="Page layout, for mirrors on other hosts (default: from the URL's host).")
@scrape_options
def scrape_url_command(urls, max_pages, archive, db_path, options: ScrapeOptions) -> None:
    """Store the messages of archive pages (lkml.iu.edu, marc.info, mail-archive.com, lkml.org) and their threads.

    A page the parser refuses is kept as a reject (see the rejects table) and the run goes on.
    The mail-archive.com and lkml.org parsers are unverified: no real saved page of either site has
    checked them (they follow the markup other scrapers document); the summary says when they ran.
    """
    from miner.fetch.scrape import scrape_urls

    with _session(db_path, options) as (store, session):
        summary = scrape_urls(store, session, list(urls), max_pages, progress=options.progress, archive_name=archive)
        click.echo(summary.line())
        _classify_fetched(store, options)


@cli.command(name="sync")
@max_matches_option
@scrape_options
def sync_command(max_matches, db_path, options: ScrapeOptions) -> None:
    """Re-run every saved scrape, fetching only threads that are new or grew; a failing one does not stop the rest."""
    from miner.fetch.scrape import describe_scrape, sync, sync_line

    with _session(db_path, options) as (store, session):
        failures: list = []
        summaries = sync(store, session, progress=options.progress, max_matches=max_matches or None,
                         failures=failures)
        for summary in summaries:
            click.echo(summary.line())
        for scrape, error in failures:
            click.echo(f"miner: sync of {describe_scrape(scrape)} failed: {error}", err=True)
        _classify_fetched(store, options)
    click.echo(sync_line(summaries, failures))
    if failures:
        raise MinerError("sync failed for " + ", ".join(f"#{scrape.scrape_id}" for scrape, _ in failures)
                         + " (see above; 'miner scrape list' shows them, 'miner scrape forget N' drops one)")


@scrape.command(name="list")
@db_option
@format_option
def scrape_list_command(db_path: Path, fmt: str) -> None:
    """The saved searches 'miner sync' re-runs: number, list, query, dates, last run, threads fetched."""
    from miner.fetch.scrape import saved_scrapes, scrape_threads_done

    with open_store(db_path, create=False) as store:
        rows = [(s.scrape_id, s.list_name, s.query, s.since, s.until, s.base_url, s.max_threads, s.last_run_at,
                 scrape_threads_done(store, s.scrape_id)) for s in saved_scrapes(store)]
    if not rows and fmt == "table":
        click.echo("no saved searches (run 'miner scrape lore' to make one)")
        return
    click.echo(render(("number", "list", "query", "since", "until", "base_url", "limit", "last_run_at", "threads"),
                      rows, fmt))


@scrape.command(name="forget")
@click.argument("number", type=int)
@db_option
def scrape_forget_command(number: int, db_path: Path) -> None:
    """Drop saved search NUMBER (from 'miner scrape list'); the mail it stored stays."""
    from miner.fetch.scrape import describe_scrape, forget_scrape, saved_scrapes

    with open_store(db_path, create=False, check=True) as store:
        found = [s for s in saved_scrapes(store) if s.scrape_id == number]
        if not found:
            raise MinerError(f"no saved search #{number} (see 'miner scrape list')")
        forget_scrape(store, number)
    click.echo(f"forgot {describe_scrape(found[0])}")


def _date(value: str | None, option: str) -> str | None:
    """A --since/--until bound in the stored form of dates (UTC, ``...Z``); one-line error naming the option."""
    from miner.reading import utc_date_bound

    if value is None:
        return None
    try:
        return utc_date_bound(value)
    except MinerError as error:
        raise MinerError(f"{option} {error}") from error


def _day(value: str | None, option: str) -> str | None:
    """A --since/--until bound as the UTC day ``YYYY-MM-DD`` (what a public-inbox ``d:`` range takes)."""
    bound = _date(value, option)
    return bound[:10] if bound else None


INTERRUPTED = "miner: interrupted; run the same command again to resume"


def _late_interrupt(signum, frame) -> None:
    """Ctrl-C after the work is done: one line and exit 130, no traceback from clean-up code."""
    sys.stdout.flush()
    os.write(2, (INTERRUPTED + "\n").encode())
    os._exit(130)


def main() -> None:
    """Console entry point: run the CLI, turning MinerError into a one-line error."""
    note_interrupts()
    try:
        try:
            code = cli.main(standalone_mode=False)
        finally:
            signal.signal(signal.SIGINT, _late_interrupt)
    except MinerError as error:
        click.echo(f"miner: error: {error}", err=True)
        sys.exit(1)
    except (click.exceptions.Abort, KeyboardInterrupt):  # click turns Ctrl-C into Abort
        click.echo(INTERRUPTED, err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
