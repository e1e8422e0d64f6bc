"""The lkml-miner Datasette plugin: a front page, the thread page at /-/thread/<Message-ID> and links to it,
the raw mail at /-/raw/<Message-ID>, and table pages that show rows first."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode

from datasette import hookimpl
from datasette.utils import tilde_encode
from datasette.utils.asgi import Response
from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader, TemplateNotFound
from markupsafe import Markup

from miner.textstore import raw_bytes, register_text_functions
from miner.errors import MinerError
from miner.mid import clean_message_id
from miner.search import register_functions
from miner.serve.home_page import load_home_page
from miner.serve.metadata import DEFAULT_HIDDEN_COLUMNS, INTERNAL_COLUMNS
from miner.serve.thread_page import load_thread_page, thread_page_url
from miner.store import store_on

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

# Columns holding a Message-ID: their cells link to the thread page.
MESSAGE_ID_COLUMNS = {"message_id", "root_message_id", "parent_id", "in_reply_to", "first_report_message_id",
                      "first_patch_message_id"}


class TableTemplateLoader(BaseLoader):
    """Datasette asks for ``table-<db>-<table>.html`` before ``table.html`` (``query-<db>-<name>.html`` before
    ``query.html``): ours, unless the user has one."""

    def get_source(self, environment, template):
        for kind in ("table", "query"):
            if template.startswith(kind + "-") and template.endswith(".html") and template.count("-") >= 2:
                return '{% extends "lkml_' + kind + '.html" %}', None, lambda: True
        raise TemplateNotFound(template)

    def list_templates(self):
        return []


@hookimpl
def prepare_jinja2_environment(env, datasette):
    """Let Datasette find this package's templates (after any --template-dir of the user)."""
    env.loader = ChoiceLoader([env.loader, FileSystemLoader(str(TEMPLATES_DIR)), TableTemplateLoader()])


@hookimpl
def prepare_connection(conn):
    """``fts_query(:q, :raw)`` for the search canned query (search text as typed, quoted for FTS5), and
    ``mail_text``/``mail_prose``, which the virtual columns messages.body and messages.prose read through."""
    register_functions(conn)
    register_text_functions(conn)


@hookimpl
def register_routes(datasette):
    """The front page; the thread page and the raw mail of any Message-ID, URL-encoded."""
    return [
        (r"^/$", home_view),
        (r"^/-/thread/(?P<message_id>[^?#]+)$", thread_view),
        (r"^/-/raw/(?P<message_id>[^?#]+)$", raw_view),
    ]


@hookimpl
def extra_template_vars(template, database, table, view_name, request, datasette):
    """On a table page with columns left out: their names, and a link showing every column."""
    if view_name != "table" or request is None or not table:
        return {}
    left_out = request.args.getlist("_nocol")
    if not left_out:
        return {}

    async def inner():
        columns = await datasette.get_database(database).table_columns(table)
        args = [(key, value) for key, value in parse_qsl(request.query_string, keep_blank_values=True)
                if key not in ("_col", "_nocol")]
        args += [("_col", column) for column in columns]
        storage = INTERNAL_COLUMNS.get(table, ())
        return {"lkml_hidden_columns": [column for column in left_out if column not in storage],
                "lkml_storage_columns": [column for column in left_out if column in storage],
                "lkml_show_all_url": "?" + urlencode(args)}

    return inner


@hookimpl
def asgi_wrapper(datasette):
    """Table pages (HTML) leave out long columns unless ?_col/?_nocol says otherwise; a plain search of the
    messages table opens the search query, which shows snippets instead of whole bodies."""

    def wrap(app):
        async def wrapped(scope, receive, send):
            if scope.get("type") == "http" and scope.get("method") == "GET":
                redirect = await _adjust_table_request(datasette, scope)
                if redirect:
                    await Response.redirect(redirect).asgi_send(send)
                    return
            await app(scope, receive, send)

        return wrapped

    return wrap


_SEARCH_ONLY_ARGS = {"_search", "_searchmode", "_col", "_nocol", "_sort", "_sort_desc"}


async def _adjust_table_request(datasette, scope) -> str | None:
    """Rewrite the query string of an HTML table page in place; a URL to redirect to, for a plain search."""
    parts = scope.get("path", "").strip("/").split("/")
    if len(parts) != 2 or parts[1] not in DEFAULT_HIDDEN_COLUMNS:
        return None
    database_name, table = parts
    if database_name not in datasette.databases:
        return None
    args = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    keys = {key for key, _ in args}
    search = dict(args).get("_search", "").strip()
    if table == "messages" and search and keys <= _SEARCH_ONLY_ARGS:
        wanted = {"q": search, **({"raw": "1"} if dict(args).get("_searchmode") == "raw" else {})}
        return datasette.urls.database(database_name) + "/search_messages?" + urlencode(wanted)
    if "_col" in keys or "_nocol" in keys:
        return None
    present = set(await datasette.get_database(database_name).table_columns(table))
    args += [("_nocol", column) for column in DEFAULT_HIDDEN_COLUMNS[table] if column in present]
    scope["query_string"] = urlencode(args).encode("latin-1")
    return None


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    """Message-IDs link to their thread page; a thread's subject links to the thread page of its root."""
    if column in MESSAGE_ID_COLUMNS and isinstance(value, dict) and value.get("value"):
        # an expanded foreign key to messages: keep Datasette's link to the row, add the thread page
        message_id = str(value["value"])
        return Markup(
            '<a href="{}">{}</a> <a class="lkml-thread-link" href="{}" title="thread page">[thread]</a>'
        ).format(
            datasette.urls.row(database, "messages", tilde_encode(message_id)), value.get("label") or message_id,
            datasette.urls.path(thread_page_url(message_id)))
    if column in MESSAGE_ID_COLUMNS and isinstance(value, str) and value:
        return Markup('{} <a class="lkml-thread-link" href="{}" title="thread page">[thread]</a>').format(
            value, datasette.urls.path(thread_page_url(value)))
    if table is None and column in ("thread_ids", "threads") and row is not None and "thread_ids" in row.keys():
        return _threads_cell(column, value, row["thread_ids"], database, datasette)
    if column in ("labels", "lists") and table in ("threads", None) and str(value).startswith("["):
        return _json_list_cell(column, value)
    if table in ("threads", "bugs") and column == "subject" and row is not None and "root_message_id" in row.keys():
        root = row["root_message_id"]
        if root:
            return Markup('<a href="{}">{}</a>').format(datasette.urls.path(thread_page_url(root)), value or "")
    return None


THREAD_IDS_SHOWN = 8  # a thread_ids cell links this many threads one by one, then all of them at once


def _threads_cell(column: str, value, thread_ids, database: str, datasette):
    """A canned query's ``threads`` count and ``thread_ids`` list link to the threads behind the row."""
    ids = [part for part in str(thread_ids or "").split(",") if part.strip().isdigit()]
    if not ids:
        return None
    every = datasette.urls.table(database, "threads") + "?thread_id__in=" + ",".join(ids) + "&_sort_desc=last_date"
    if column == "threads":
        return Markup('<a class="lkml-threads-link" href="{}">{}</a>').format(every, value)
    shown = Markup(", ").join(
        Markup('<a href="{}">{}</a>').format(datasette.urls.row(database, "threads", thread_id), thread_id)
        for thread_id in ids[:THREAD_IDS_SHOWN])
    more = Markup(' … <a href="{}">all {}</a>').format(every, len(ids)) if len(ids) > THREAD_IDS_SHOWN else ""
    return shown + more


def _json_list_cell(column: str, value: str):
    """A JSON list of labels as coloured tags, of lists one per line (breakable at dots); the JSON stays in the API."""
    import json

    try:
        items = [str(item) for item in json.loads(value)]
    except (ValueError, TypeError):
        return None
    if column == "labels":
        return Markup(" ").join(Markup('<span class="lkml-tag lkml-tag-{}">{}</span>').format(item, item)
                                for item in items)
    return Markup("<br>").join(Markup("<wbr>.").join(item.split(".")) for item in items)


async def thread_view(datasette, request):
    """Render the thread holding the requested Message-ID, or a 404 page naming it."""
    message_id = unquote(request.url_vars["message_id"])
    database = datasette.get_database()
    try:
        page = await database.execute_fn(lambda conn: load_thread_page(store_on(conn), message_id))
    except MinerError as error:
        return Response.html(await datasette.render_template(
            "error.html", {"error": str(error), "title": "Unknown Message-ID", "status": 404}, request=request,
        ), status=404)
    html = await datasette.render_template(
        "lkml_thread.html", {"page": page, "database": database.name}, request=request,
    )
    return Response.html(html)


async def home_view(datasette, request):
    """The front page: label counts, a search box, recent labelled threads, threads per year, links."""
    database = datasette.get_database()
    home = await database.execute_fn(lambda conn: load_home_page(store_on(conn)))
    html = await datasette.render_template("lkml_home.html", {"home": home, "database": database.name},
                                           request=request)
    return Response.html(html)


async def raw_view(datasette, request):
    """The raw mail of a Message-ID as stored, as plain text (never sniffed as HTML)."""
    message_id = clean_message_id(unquote(request.url_vars["message_id"]))

    def read(conn):
        return raw_bytes(conn, message_id)

    raw = await datasette.get_database().execute_fn(read)
    if raw is None:
        return Response.text(f"{message_id}: no raw mail stored for this Message-ID", status=404)
    return Response(raw, content_type="text/plain; charset=utf-8",
                    headers={"X-Content-Type-Options": "nosniff",
                             "Content-Disposition": 'inline; filename="message.eml"'})
