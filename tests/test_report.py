"""miner report on the demo database: the page, its charts, and the demo's numbers in both."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from demo_db import build_demo_db

from miner.cli import cli
from miner.report import write_report
from miner.store import open_store

SVG_TEXT = "{http://www.w3.org/2000/svg}text"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    return build_demo_db(tmp_path_factory.mktemp("report") / "demo.db", hostile=False)


@pytest.fixture(scope="module")
def report_dir(demo_db, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report-out")
    result = CliRunner().invoke(cli, ["report", "--db", str(demo_db), "--out", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    return out


class Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts, and every <img src>."""

    def __init__(self):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.images: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def svg_texts(path: Path) -> list[str]:
    return [element.text or "" for element in ElementTree.parse(path).iter(SVG_TEXT)]


def bar_labels(path: Path) -> list[int]:
    """The numbers written on a chart's bars: texts of its axes outside the tick labels and the legend
    (matplotlib groups those as ``xtick_N``, ``ytick_N``, ``legend_N``)."""
    found = []

    def walk(element, inside_axis_part: bool) -> None:
        for child in element:
            part = inside_axis_part or (child.get("id") or "").startswith(("xtick", "ytick", "legend"))
            if child.tag == SVG_TEXT and not part and (child.text or "").isdigit():
                found.append(int(child.text))
            walk(child, part)

    walk(ElementTree.parse(path).getroot(), False)
    return found


def test_page_links_three_charts_that_exist(report_dir):
    page = Tables()
    page.feed((report_dir / "index.html").read_text())
    assert page.images == ["labels_per_year.svg", "top_subsystems.svg", "label_cooccurrence.svg"]
    for image in page.images:
        assert ElementTree.parse(report_dir / image).getroot().tag.endswith("svg")
    text = re.sub(r'xmlns(:\w+)?="[^"]+"', "", (report_dir / "index.html").read_text())
    # offline: nothing is loaded from the network (the only http are the lore links to the threads)
    assert not re.search(r'(src|data)="https?:|<link[^>]+https?:|url\(https?:|@import', text)
    assert set(re.findall(r'href="(https?://[^/"]+/)', text)) == {"https://lore.kernel.org/"}


def test_each_chart_lists_the_threads_behind_it_with_links(report_dir, demo_db):
    text = (report_dir / "index.html").read_text()
    conn = sqlite3.connect(demo_db)
    labelled = conn.execute("SELECT count(DISTINCT thread_id) FROM labels").fetchone()[0]
    assert f"The {labelled} threads behind this chart" in text  # labels per year: every labelled thread
    assert text.count('<details class="threads" open>') == 3
    newest = conn.execute("SELECT root_message_id, subject, thread_id FROM threads WHERE labels != '[]'"
                          " ORDER BY last_date DESC LIMIT 1").fetchone()
    from miner.mid import lore_url

    assert f'<a href="{lore_url(newest[0])}">{newest[1]}</a>' in text
    assert f"<code>miner show {newest[2]}</code>" in text
    assert "thread_ids" not in text.split("<h2>")[1].split("</table>")[0]  # the numbers table stays as it was


def test_axis_labels_are_set_large_enough_to_read(report_dir):
    sizes = [float(size) for size in re.findall(r"font-size:\s*([\d.]+)px",
                                                 (report_dir / "labels_per_year.svg").read_text())]
    assert sizes and min(sizes) >= 11  # points (matplotlib's SVG px are points); the bar counts were 8


def test_labels_per_year_numbers_are_the_demo_numbers(report_dir, demo_db):
    expected = sqlite3.connect(demo_db).execute(
        "SELECT l.label, t.year, count(*) FROM labels l JOIN threads t USING (thread_id)"
        " GROUP BY l.label, t.year ORDER BY 1, 2").fetchall()
    page = Tables()
    page.feed((report_dir / "index.html").read_text())
    table = page.tables[0]
    assert table[0] == ["label", "year", "threads"]
    assert [(label, int(year), int(n)) for label, year, n in table[1:]] == expected
    texts = svg_texts(report_dir / "labels_per_year.svg")
    for year in {year for _, year, _ in expected}:
        assert str(year) in texts
    # every bar carries its count, and nothing else is a bar label: one label per (label, year) row
    assert sorted(bar_labels(report_dir / "labels_per_year.svg")) == sorted(n for *_, n in expected)


def test_cooccurrence_chart_shows_each_pair_count(report_dir, demo_db):
    conn = sqlite3.connect(demo_db)
    per_label = dict(conn.execute("SELECT label, count(*) FROM labels GROUP BY label"))
    both = conn.execute("SELECT count(*) FROM labels a JOIN labels b USING (thread_id)"
                        " WHERE a.label = 'deadlock' AND b.label = 'race'").fetchone()[0]
    texts = svg_texts(report_dir / "label_cooccurrence.svg")
    for label, count in per_label.items():
        assert label in texts and str(count) in texts
    assert texts.count(str(both)) >= 2  # the matrix is symmetric
    page = Tables()
    page.feed((report_dir / "index.html").read_text())
    rows = {(a, b): int(n) for a, b, n in page.tables[2][1:]}
    assert rows[("deadlock", "race")] == both and rows[("deadlock", "deadlock")] == per_label["deadlock"]


def test_top_subsystems_chart_names_the_subsystems_of_the_table(report_dir):
    page = Tables()
    page.feed((report_dir / "index.html").read_text())
    table = page.tables[1]
    assert table[0][:4] == ["label", "rank", "subsystem", "threads"]
    texts = svg_texts(report_dir / "top_subsystems.svg")
    for label, _rank, subsystem, _threads, _files in table[1:]:
        assert subsystem in texts and label in texts
    assert ("deadlock", "kernel/cgroup") in {(row[0], row[2]) for row in table[1:]}


def test_a_database_without_labels_still_gets_a_page(tmp_path):
    with open_store(tmp_path / "empty.db") as store:
        page = write_report(store, tmp_path / "out")
    assert page.read_text().count("No rows.") == 3
    assert all((tmp_path / "out" / name).stat().st_size > 0
               for name in ("labels_per_year.svg", "top_subsystems.svg", "label_cooccurrence.svg"))


def test_missing_database_is_one_line_error_and_no_report(tmp_path):
    result = subprocess.run([sys.executable, "-m", "miner", "report", "--db", str(tmp_path / "absent.db"), "--out",
                             str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr == (f"miner: error: {tmp_path / 'absent.db'}: no such database"
                             " (run 'miner ingest' or 'miner demo' first)\n")
    assert not (tmp_path / "out").exists() and not (tmp_path / "absent.db").exists()
