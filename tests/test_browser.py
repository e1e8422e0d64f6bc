"""A real browser on `miner serve`: headless Chromium opens a deadlock thread page holding hostile mail."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from demo_db import DEADLOCK_ROOT, HOSTILE_MESSAGE_ID, build_demo_db

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path(shutil.which("chromedriver") or "/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,2000")

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium absent (Debian package chromium)"),
    pytest.mark.skipif(not CHROMEDRIVER.exists(), reason="chromedriver absent (Debian package chromium-driver)"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"miner serve exited: {server.stdout.read().decode(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"miner serve did not answer {url} within {seconds} s")


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    """`miner serve` on a free loopback port, on the demo database plus the hostile mail."""
    db = build_demo_db(tmp_path_factory.mktemp("browser") / "demo.db")
    port = free_port()
    script = Path(sys.executable).with_name("miner")
    miner = [str(script)] if script.exists() else [sys.executable, "-c", "from miner.cli import main; main()"]
    server = subprocess.Popen([*miner, "serve", "--db", str(db), "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/-/versions.json", server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_thread_page_shows_labels_and_evidence_and_does_not_run_mail(server_url, browser, tmp_path_factory):
    from selenium.webdriver.common.by import By

    # ask for the hostile reply: the page shows its whole thread, the io_uring syzbot deadlock
    browser.get(f"{server_url}/-/thread/{quote(HOSTILE_MESSAGE_ID, safe='')}")
    screenshot = tmp_path_factory.mktemp("screenshots") / "thread-page.png"
    browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000

    assert "pwned" not in browser.title
    assert browser.execute_script("return typeof window.__lkml_pwned") == "undefined"
    page_scripts = [s.get_attribute("innerHTML") for s in browser.find_elements(By.TAG_NAME, "script")]
    assert not any("__lkml_pwned" in script for script in page_scripts)
    assert not browser.find_elements(By.CSS_SELECTOR, "img[onerror]")

    # the hostile text is on the page, as text
    body_text = browser.find_element(By.TAG_NAME, "body").text
    assert "<script>window.__lkml_pwned = 1;</script>" in body_text
    assert "<img src=x onerror=" in body_text
    hostile = next(article for article in browser.find_elements(By.CSS_SELECTOR, "article.lkml-message")
                   if HOSTILE_MESSAGE_ID in article.text)
    browser.execute_script("arguments[0].scrollIntoView()", hostile)
    hostile.screenshot(str(screenshot.with_name("hostile-message.png")))

    # labels and evidence are visible
    deadlock = browser.find_element(By.CSS_SELECTOR, 'section.lkml-label[data-label="deadlock"]')
    assert deadlock.is_displayed() and "deadlock" in deadlock.text
    evidence = deadlock.find_elements(By.CSS_SELECTOR, "li.lkml-evidence-line")
    assert evidence and all(item.is_displayed() for item in evidence)
    highlighted = [line for line in browser.find_elements(By.CSS_SELECTOR, ".lkml-line.lkml-hit")
                   if line.is_displayed()]
    assert highlighted, "no evidence line highlighted in the conversation"
    assert any("DEADLOCK" in line.text or "deadlock" in line.text.lower() for line in highlighted)

    # one lore link per message, to lore.kernel.org/r/<Message-ID>
    lore_links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "a.lkml-lore")]
    assert f"https://lore.kernel.org/r/{DEADLOCK_ROOT}" in lore_links
    assert len(lore_links) == len(browser.find_elements(By.CSS_SELECTOR, "article.lkml-message:not(.lkml-ghost)"))

    # quoted text is folded: closed unless it holds evidence
    folds = browser.find_elements(By.CSS_SELECTOR, "details.lkml-quoted")
    assert folds and any(fold.get_attribute("open") is None for fold in folds)
    print(f"screenshot: {screenshot}", file=sys.stderr)
    if os.environ.get("MINER_KEEP_SCREENSHOT"):
        for shot in screenshot.parent.glob("*.png"):
            shutil.copy(shot, Path(os.environ["MINER_KEEP_SCREENSHOT"]) / shot.name)


def keep(browser, tmp_path_factory, name: str) -> Path:
    """Save a screenshot of the current page (copied to $MINER_KEEP_SCREENSHOT when set); its path."""
    shot = tmp_path_factory.mktemp("screenshots") / f"{name}.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}", file=sys.stderr)
    if os.environ.get("MINER_KEEP_SCREENSHOT"):
        shutil.copy(shot, Path(os.environ["MINER_KEEP_SCREENSHOT"]) / shot.name)
    return shot


def test_front_page_shows_labels_search_and_recent_threads_that_open(server_url, browser, tmp_path_factory):
    from selenium.webdriver.common.by import By

    browser.set_window_size(1400, 1000)
    browser.get(server_url + "/")
    keep(browser, tmp_path_factory, "front-page")
    counts = {box.get_attribute("data-label"): box
              for box in browser.find_elements(By.CSS_SELECTOR, "li.lkml-label-count")}
    assert set(counts) == {"deadlock", "race", "ordering"} and all(box.is_displayed() for box in counts.values())
    search = browser.find_element(By.ID, "lkml-q")
    assert search.is_displayed() and search.rect["y"] < 400  # on the first screen
    search.send_keys("lock-order")
    search.submit()
    assert "/search_messages?q=lock-order" in browser.current_url
    assert "[lock order]" in browser.find_element(By.TAG_NAME, "body").text  # snippets
    keep(browser, tmp_path_factory, "front-page-search")
    browser.get(server_url + "/")
    first = browser.find_element(By.CSS_SELECTOR, "a.lkml-recent-thread")
    subject = first.text
    first.click()
    assert "/-/thread/" in browser.current_url
    assert browser.find_element(By.CSS_SELECTOR, "h1.lkml-subject").text == subject


def test_table_pages_show_rows_first_with_labels_visible_at_1400_pixels(server_url, browser, tmp_path_factory):
    from selenium.webdriver.common.by import By

    browser.set_window_size(1400, 1000)
    browser.get(server_url + "/demo/threads")
    keep(browser, tmp_path_factory, "threads-table")
    width = browser.execute_script("return document.documentElement.clientWidth")
    labels = browser.find_element(By.CSS_SELECTOR, 'th[data-column="labels"]')
    assert labels.rect["x"] + labels.rect["width"] <= width, labels.rect  # no sideways scrolling to see it
    assert not browser.find_element(By.CSS_SELECTOR, "dl.column-descriptions").is_displayed()
    fold = browser.find_element(By.CSS_SELECTOR, "details.lkml-columns")
    assert fold.get_attribute("open") is None
    first_row = browser.find_element(By.CSS_SELECTOR, "table.rows-and-columns tbody tr")
    assert first_row.rect["y"] < 1000, first_row.rect  # rows start on the first screen

    browser.get(server_url + "/demo/messages")
    keep(browser, tmp_path_factory, "messages-table")
    headers = [th.get_attribute("data-column") for th in browser.find_elements(By.CSS_SELECTOR, "th[data-column]")]
    assert "subject" in headers and not {"body", "prose"} & set(headers)
    rows = browser.find_elements(By.CSS_SELECTOR, "table.rows-and-columns tbody tr")
    assert rows and max(row.rect["height"] for row in rows) < 300
    assert rows[0].rect["y"] < 1000


def test_thread_page_overview_diff_colours_and_raw_mail(server_url, browser, tmp_path_factory):
    from selenium.webdriver.common.by import By

    browser.set_window_size(1400, 1000)
    browser.get(f"{server_url}/-/thread/{quote('20240607110313.2230669-1-chenridong@huawei.com', safe='@')}")
    keep(browser, tmp_path_factory, "thread-overview")
    overview = browser.find_element(By.CSS_SELECTOR, "nav.lkml-overview")
    assert overview.is_displayed() and overview.rect["y"] < 300
    entries = overview.find_elements(By.CSS_SELECTOR, "ol.lkml-tree li")
    articles = browser.find_elements(By.CSS_SELECTOR, "article.lkml-message")
    assert len(entries) == len(articles) == 12
    entries[-1].find_element(By.TAG_NAME, "a").click()
    assert browser.current_url.endswith("#" + articles[-1].get_attribute("id"))

    added = browser.find_element(By.CSS_SELECTOR, ".lkml-line.lkml-diff-add")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", added)
    keep(browser, tmp_path_factory, "thread-diff")
    colour = added.value_of_css_property("background-color")
    plain = browser.find_element(By.CSS_SELECTOR, ".lkml-line:not(.lkml-diff-add):not(.lkml-hit):not([class*=diff])")
    assert colour != plain.value_of_css_property("background-color")
    assert added.text.startswith("+")

    lines = [item.find_element(By.TAG_NAME, "a").get_attribute("href")
             for item in browser.find_elements(By.CSS_SELECTOR, "section.lkml-label li.lkml-evidence-line")
             if item.find_elements(By.TAG_NAME, "a")]
    per_label = {}
    for section in browser.find_elements(By.CSS_SELECTOR, "section.lkml-label"):
        hrefs = [a.get_attribute("href") for a in section.find_elements(By.CSS_SELECTOR, "li.lkml-evidence-line a")]
        per_label[section.get_attribute("data-label")] = hrefs
        assert len(hrefs) == len(set(hrefs)), hrefs  # each line once
    assert lines and per_label

    raw = browser.find_element(By.CSS_SELECTOR, "a.lkml-raw").get_attribute("href")
    browser.get(raw)
    assert "Message-ID: <20240607110313.2230669-1-chenridong@huawei.com>" in browser.find_element(
        By.TAG_NAME, "body").text
