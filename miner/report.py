"""`miner report`: an offline HTML page of charts (SVG, matplotlib) with their numbers beside them.

The numbers come from the canned queries in queries/*.sql, so the page, ``miner query`` and
Datasette always agree.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

from miner.errors import MinerError
from miner.mid import lore_url
from miner.queries import run_query
from miner.reading import run_readonly_sql
from miner.utc import utc_now
from miner.store import Store

LABEL_COLORS = {"deadlock": "#b03030", "race": "#2060b0", "ordering": "#7040a0"}
TOP_SUBSYSTEMS = 8
THREADS_LISTED = 12  # under each chart: this many of the threads behind it, most recently active first
FONT_SIZE = 13  # points; the SVGs are shown at their own size, so axis labels read at normal zoom


@dataclass
class Chart:
    """One chart of the report: its file, title, and the table of numbers it draws."""

    file_name: str
    title: str
    query_name: str
    columns: list[str]
    rows: list[tuple]
    threads: list[tuple] = None  # (thread_id, subject, last_date, root_message_id, labels) behind the chart
    thread_count: int = 0


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # keep text as <text>: searchable, and the numbers readable
    matplotlib.rcParams["svg.hashsalt"] = "lkml-miner"  # same input, same SVG bytes
    matplotlib.rcParams["font.size"] = FONT_SIZE
    matplotlib.rcParams["axes.titlesize"] = FONT_SIZE + 2
    matplotlib.rcParams["xtick.labelsize"] = matplotlib.rcParams["ytick.labelsize"] = FONT_SIZE - 1
    import matplotlib.pyplot as plt

    return plt


def _labels_in(rows: list[tuple]) -> list[str]:
    known = [label for label in LABEL_COLORS if any(row[0] == label for row in rows)]
    return known + sorted({row[0] for row in rows} - set(known))


def plot_labels_per_year(rows: list[tuple], path: Path) -> None:
    """Grouped bars: threads per label (label, year, threads rows), each bar with its count."""
    plt = _pyplot()
    years = sorted({row[1] for row in rows})
    labels = _labels_in(rows)
    counts = {(row[0], row[1]): row[2] for row in rows}
    figure, axes = plt.subplots(figsize=(max(6, 0.7 * len(years) + 2), 4))
    width = 0.8 / max(1, len(labels))
    for index, label in enumerate(labels):
        positions = [year_index + (index - (len(labels) - 1) / 2) * width for year_index in range(len(years))]
        bars = axes.bar(positions, [counts.get((label, year), 0) for year in years], width,
                        label=label, color=LABEL_COLORS.get(label))
        axes.bar_label(bars, labels=[str(counts.get((label, year), "")) for year in years], fontsize=FONT_SIZE - 2)
    axes.set_xticks(range(len(years)), [str(year) for year in years])
    axes.set_ylabel("threads")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_title("Threads per label and year")
    if labels:
        axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_top_subsystems(rows: list[tuple], path: Path) -> None:
    """One horizontal bar chart per label: its top subsystems (label, rank, subsystem, threads, ... rows)."""
    plt = _pyplot()
    labels = _labels_in(rows) or ["(none)"]
    figure, axes_list = plt.subplots(1, len(labels), figsize=(4.5 * len(labels), 0.4 * TOP_SUBSYSTEMS + 1.5),
                                     squeeze=False)
    for axes, label in zip(axes_list[0], labels):
        mine = [row for row in rows if row[0] == label][::-1]
        bars = axes.barh([row[2] for row in mine], [row[3] for row in mine], color=LABEL_COLORS.get(label))
        axes.bar_label(bars, labels=[str(row[3]) for row in mine], fontsize=FONT_SIZE - 2)
        axes.set_title(label)
        axes.set_xlabel("threads")
        axes.tick_params(axis="y", labelsize=FONT_SIZE - 1)
    figure.suptitle("Top subsystems per label (threads whose patches touch them)")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_cooccurrence(rows: list[tuple], path: Path) -> None:
    """A symmetric matrix of threads carrying both labels (label_a, label_b, threads rows), counts in cells."""
    plt = _pyplot()
    labels = [label for label in LABEL_COLORS if any(label in row[:2] for row in rows)]
    labels += sorted({label for row in rows for label in row[:2]} - set(labels))
    counts = {}
    for label_a, label_b, threads in rows:
        counts[(label_a, label_b)] = counts[(label_b, label_a)] = threads
    matrix = [[counts.get((a, b), 0) for b in labels] for a in labels]
    figure, axes = plt.subplots(figsize=(4.5, 4))
    axes.imshow(matrix or [[0]], cmap="Blues")
    darkest = max((value for row in matrix for value in row), default=0)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            axes.text(j, i, str(value), ha="center", va="center", fontsize=11,
                      color="white" if value > darkest / 2 else "black")
    axes.set_xticks(range(len(labels)), labels)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_title("Threads carrying both labels")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


CHARTS = (
    ("labels_per_year.svg", "Labels per year", "threads_per_label_year", {}, plot_labels_per_year),
    ("top_subsystems.svg", "Top subsystems per label", "top_subsystems_per_label",
     {"limit": str(TOP_SUBSYSTEMS)}, plot_top_subsystems),
    ("label_cooccurrence.svg", "Label co-occurrence", "label_cooccurrence", {}, plot_cooccurrence),
)


def _html_table(columns: list[str], rows: list[tuple]) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _threads_html(chart: Chart) -> str:
    """The list of threads behind a chart: subject, date, labels, Message-ID and lore link."""
    if not chart.threads:
        return ""
    items = "".join(
        f'<li><a href="{html.escape(lore_url(root))}">{html.escape(subject or "(no subject)")}</a>'
        f' <span class="when">{html.escape((last or "?")[:10])}</span>'
        f' <span class="labels">{html.escape(", ".join(json.loads(labels or "[]")))}</span>'
        f' <code>miner show {thread_id}</code></li>'
        for thread_id, subject, last, root, labels in chart.threads)
    more = (f"<p class=\"more\">{chart.thread_count - len(chart.threads)} more: <code>miner threads</code>"
            " with the same filters, or <code>miner query " + html.escape(chart.query_name) + "</code>"
            " (its thread_ids column)</p>") if chart.thread_count > len(chart.threads) else ""
    return (f'<details class="threads" open><summary>The {chart.thread_count} threads behind this chart'
            f"</summary><ol>{items}</ol>{more}</details>")


def report_html(charts: list[Chart], db_path: Path, totals: dict[str, int]) -> str:
    """The report page: each chart beside the table of its numbers, the threads behind it underneath."""
    sections = []
    for chart in charts:
        numbers = _html_table(chart.columns, chart.rows) if chart.rows else "<p>No rows.</p>"
        sections.append(
            f'<section class="chart" id="{html.escape(chart.file_name)}"><h2>{html.escape(chart.title)}</h2>'
            f'<div class="pair"><img src="{html.escape(chart.file_name)}" alt="{html.escape(chart.title)}">'
            f'<div class="numbers">{numbers}<p class="query">query: <code>miner query'
            f" {html.escape(chart.query_name)}</code></p></div></div>{_threads_html(chart)}</section>"
        )
    total_text = ", ".join(f"{count} {name}" for name, count in totals.items())
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>lkml-miner report</title><style>"
        "body{font-family:sans-serif;margin:2em}.pair{display:flex;gap:2em;align-items:flex-start;flex-wrap:wrap}"
        ".pair img{max-width:100%;height:auto}.threads li{margin:.2em 0}.when,.labels{color:#666}"
        "table{border-collapse:collapse;font-size:.9em}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}.query{color:#666;font-size:.85em}"
        "</style></head><body>"
        f"<h1>lkml-miner report</h1><p>Database <code>{html.escape(str(db_path))}</code>: {html.escape(total_text)}."
        f" Made {html.escape(utc_now())}.</p>" + "".join(sections) + "</body></html>\n"
    )


def _threads_behind(store: Store, thread_ids: set[int]) -> list[tuple]:
    """The most recently active of ``thread_ids``: (thread_id, subject, last_date, root_message_id, labels)."""
    if not thread_ids:
        return []
    _, rows = run_readonly_sql(
        store, "SELECT thread_id, subject, last_date, root_message_id, labels FROM threads"
        " WHERE thread_id IN (SELECT value FROM json_each(:ids)) ORDER BY last_date DESC, thread_id DESC LIMIT :n",
        {"ids": json.dumps(sorted(thread_ids)), "n": THREADS_LISTED})
    return rows


def write_report(store: Store, out_dir: str | Path) -> Path:
    """Write index.html and one SVG per chart of ``store`` into ``out_dir``; returns the page's path."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise MinerError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    charts = []
    for file_name, title, query_name, params, plot in CHARTS:
        columns, rows = run_query(store, query_name, params)
        thread_ids: set[int] = set()
        if "thread_ids" in columns:  # the threads behind each row: listed under the chart, not in its table
            at = columns.index("thread_ids")
            thread_ids = {int(part) for row in rows for part in str(row[at] or "").split(",") if part.strip()}
            columns = columns[:at] + columns[at + 1:]
            rows = [row[:at] + row[at + 1:] for row in rows]
        plot(rows, out / file_name)
        charts.append(Chart(file_name, title, query_name, columns, rows, _threads_behind(store, thread_ids),
                            len(thread_ids)))
    _, total_rows = run_query(store, "time_to_first_patch_by_label")
    totals = {f"{row[0]} threads": row[1] for row in total_rows}
    page = out / "index.html"
    page.write_text(report_html(charts, store.path, totals), encoding="utf-8")
    return page
