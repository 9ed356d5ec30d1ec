"""The report in a real browser: Debian's headless Chromium driven by Playwright opens the file with every
request that is not the file itself blocked, and finds no console error, a drawn mark in every chart and rows
in every section's table. A full-page screenshot is kept in tests/report/artifacts/ (git-ignored).

Without Chromium (or Playwright) the test skips, except with LIVELLO_REQUIRE_BROWSER=1 (CI): then it fails."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.report.conftest import Synced, run_report

CHROMIUM = Path(os.environ.get("LIVELLO_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# Every drawn mark of a Vega chart is an element inside a group of role "mark" (axes and legends have other
# roles; text labels do not count). Drawn: a bar or point with a box of non-zero width and height, a line or
# rule of non-zero length.
DRAWN_MARKS = """(figure) => [...figure.querySelectorAll('g.role-mark > :not(text)')].filter((e) => {
    const b = e.getBBox();
    const stroked = e.closest('g.mark-line, g.mark-rule') !== null;
    return stroked ? b.width > 0 || b.height > 0 : b.width > 0 && b.height > 0;
  }).length"""


def _browser_or_skip() -> Any:
    problem = None
    if not CHROMIUM.exists():
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = problem or "Playwright is not installed (pip install -e '.[dev]')"
    if problem:
        if os.environ.get("LIVELLO_REQUIRE_BROWSER") == "1":
            pytest.fail(problem + " while LIVELLO_REQUIRE_BROWSER=1", pytrace=False)
        pytest.skip(problem)
    return sync_playwright


def test_the_report_loads_offline_in_chromium_and_every_chart_is_drawn(synced_duckdb: Synced) -> None:
    sync_playwright = _browser_or_skip()
    ARTIFACTS.mkdir(exist_ok=True)
    page_file = ARTIFACTS / "report.html"
    screenshot = ARTIFACTS / "report.png"
    screenshot.unlink(missing_ok=True)
    result = run_report(synced_duckdb.workdir, synced_duckdb.env, "--output", str(page_file))
    assert result.code == 0, result.err
    url = page_file.resolve().as_uri()

    console: list[str] = []
    requests: list[str] = []
    blocked: list[str] = []
    failed: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})

            def route(r: Any) -> None:
                if r.request.url.startswith("file://"):
                    r.continue_()
                else:
                    blocked.append(r.request.url)
                    r.abort()

            context.route("**/*", route)
            page = context.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: console.append(f"page error: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
            page.goto(url, wait_until="load")

            assert console == [] and blocked == [] and failed == []
            assert requests == [url]  # the page itself, nothing else

            figures = page.query_selector_all("figure.chart")
            assert len(figures) >= 7
            for figure in figures:
                box = figure.bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 40, figure.get_attribute(
                    "id"
                )
                assert figure.evaluate(DRAWN_MARKS) > 0, f"{figure.get_attribute('id')} drew no mark"
            sections = page.query_selector_all("section.report-section")
            assert [s.get_attribute("id") for s in sections] == [
                "revenue", "products", "stock", "spoilage", "cold-chain", "refills", "health",
            ]  # fmt: skip
            for section in sections:
                rows = section.evaluate(
                    "(s) => [...s.querySelectorAll('table.data')].filter((t) => !t.closest('details'))"
                    ".map((t) => t.tBodies[0].rows.length)"
                )
                empty = section.query_selector("p.empty")
                assert (rows and min(rows) > 0) or empty is not None, section.get_attribute("id")
            # Every entry of the table of contents leads to its section.
            for href in page.eval_on_selector_all("nav.toc a", "(links) => links.map((a) => a.hash)"):
                assert page.query_selector(f"section{href}") is not None, href
            page.screenshot(path=str(screenshot), full_page=True)

            # Without JavaScript the page reads the same: charts are static SVG, numbers are HTML tables.
            plain = browser.new_context(java_script_enabled=False)
            plain.route("**/*", route)
            page = plain.new_page()
            page.goto(url, wait_until="load")
            assert page.locator("figure.chart svg").count() == len(figures)
            assert page.locator("table.data tbody tr").count() > 20
            assert blocked == []
        finally:
            browser.close()
    assert screenshot.stat().st_size > 50_000
    print(f"\nreport screenshot: {screenshot}")
