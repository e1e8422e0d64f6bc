"""The lkml-miner Datasette plugin: the thread page at /-/thread/<Message-ID> and links to it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from datasette import hookimpl
from datasette.utils import tilde_encode
from datasette.utils.asgi import Response
from jinja2 import ChoiceLoader, FileSystemLoader
from markupsafe import Markup

from miner.errors import MinerError
from miner.serve.thread_page import load_thread_page, thread_page_url

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

# Columns holding a Message-ID: their cells link to the thread page.
MESSAGE_ID_COLUMNS = {"message_id", "root_message_id", "parent_id", "in_reply_to", "first_report_message_id",
                      "first_patch_message_id"}


@hookimpl
def prepare_jinja2_environment(env, datasette):
    """Let Datasette find this package's templates (after any --template-dir of the user)."""
    env.loader = ChoiceLoader([env.loader, FileSystemLoader(str(TEMPLATES_DIR))])


@hookimpl
def register_routes(datasette):
    """The thread page: any Message-ID of the thread, URL-encoded."""
    return [(r"^/-/thread/(?P<message_id>[^?#]+)$", thread_view)]


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
    if table in ("threads", "bugs") and column == "subject" and row is not None and "root_message_id" in row.keys():
        root = row["root_message_id"]
        if root:
            return Markup('<a href="{}">{}</a>').format(datasette.urls.path(thread_page_url(root)), value or "")
    return None


async def thread_view(datasette, request):
    """Render the thread holding the requested Message-ID, or a 404 page naming it."""
    message_id = unquote(request.url_vars["message_id"])
    database = datasette.get_database()
    try:
        page = await database.execute_fn(lambda conn: load_thread_page(conn, message_id))
    except MinerError as error:
        return Response.html(await datasette.render_template(
            "error.html", {"error": str(error), "title": "Unknown Message-ID", "status": 404}, request=request,
        ), status=404)
    html = await datasette.render_template(
        "lkml_thread.html", {"page": page, "database": database.name}, request=request,
    )
    return Response.html(html)
