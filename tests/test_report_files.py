"""``run --out DIR`` writes report.xlsx and report.html (issue 16): the workbook holds the CSVs' numbers, typed and
under frozen headers; the page is self-contained and every chart renders in a real headless browser.

All of it reads the session's one founding run (``founding_run``, tests/conftest.py). The browser test drives
Debian's chromium (``/usr/bin/chromium``, or ``TOKENSIM_CHROMIUM``) through Playwright's Python package; the README's
test command installs chromium first (scripts/install-browser.sh). Without a browser the test skips and says why;
``TOKENSIM_REQUIRE_BROWSER=1`` (set by .ci/run) turns that skip into a failure. The screenshot of the first screen goes
to pytest's tmp folder, and with ``TOKENSIM_UPDATE_SCREENSHOT=1`` also to docs/report-html.png.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from tokensim import report as report_module

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("TOKENSIM_CHROMIUM", "/usr/bin/chromium"))


def test_xlsx_sheets_hold_the_csvs_numbers(founding_run):
    """Every CSV the run wrote is one sheet of report.xlsx with the same columns and the same values: numbers equal
    to the last bit (the CSV's shortest round-trip text and the xlsx's number both parse to the same float), text
    equal, empty cells where the CSV is empty."""
    pytest.importorskip("openpyxl")
    book = founding_run.out / "report.xlsx"
    sheets = pd.read_excel(book, sheet_name=None, engine="openpyxl")
    csvs = sorted(founding_run.out.glob("*.csv"))
    assert len(csvs) >= 10
    assert sorted(n for n in sheets if n != "about") == sorted(p.stem for p in csvs)
    for path in csvs:
        want, got = pd.read_csv(path), sheets[path.stem]
        assert list(got.columns) == list(want.columns), path.stem
        assert got.shape == want.shape, path.stem
        for column in want.columns:
            a, b = want[column], got[column]
            if pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a):
                assert pd.api.types.is_numeric_dtype(b), f"{path.stem}.{column} is not numeric in the xlsx"
                a, b = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
                assert ((a == b) | (pd.isna(a) & pd.isna(b))).all(), f"{path.stem}.{column}"
            else:
                assert [None if pd.isna(v) else v for v in a] == [None if pd.isna(v) else v for v in b], \
                    f"{path.stem}.{column}"


def test_xlsx_is_typed_with_frozen_headers(founding_run):
    """Table sheets freeze their header row, number cells are numbers (not text) and the monthly schedule has one
    row per month 0..horizon; the about sheet carries the scenario and the reading."""
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.load_workbook(founding_run.out / "report.xlsx", read_only=False)
    assert book.sheetnames[0] == "about"
    about = {row[0]: row[1] for row in book["about"].iter_rows(values_only=True)}
    assert about["scenario"] == "b300-10k-cluster"
    assert about["reading 1"] == founding_run.json["reading"][0]
    for name in book.sheetnames[1:]:
        assert book[name].freeze_panes == "A2", name
    schedule = book["finance_schedule"]
    header = [c.value for c in schedule[1]]
    month = header.index("month") + 1
    revenue = header.index("revenue_cny") + 1
    # the founding scenario: a 5-year horizon, month 0 (capex) to month 60
    assert [schedule.cell(row=r, column=month).value for r in range(2, schedule.max_row + 1)] == list(range(61))
    assert all(schedule.cell(row=r, column=revenue).data_type == "n" for r in range(2, schedule.max_row + 1))


def test_monte_carlo_summary_table_matches_the_json(founding_run):
    """monte_carlo_summary.csv lists each Monte Carlo metric of report.json with its statistics, and NPV in the
    report's currency."""
    table = pd.read_csv(founding_run.out / "monte_carlo_summary.csv").set_index("metric")
    mc = founding_run.json["monte_carlo"]
    for metric in ("project_irr", "equity_irr", "npv", "min_dscr"):
        for stat in ("mean", "p05", "p50", "p95"):
            assert table.loc[metric, stat] == mc[metric][stat]
    assert table.loc["npv", "unit"] == founding_run.json["currency"] == "CNY"
    assert table.loc["equity_irr", "unit"] == "fraction"


def _html(founding_run) -> str:
    path = founding_run.out / "report.html"
    if not path.exists():
        pytest.skip("report.html not written: plotly (the report extra) is not installed")
    return path.read_text(encoding="utf-8")


def _expected_charts(founding_run) -> int:
    """Unit costs, bridge, monthly cash flows, cumulative cash flows, and one distribution per Monte Carlo metric
    with at least one path that has a value (report.json's count > 0)."""
    mc = founding_run.json["monte_carlo"]
    metrics = [k for k, v in mc.items() if isinstance(v, dict) and "share_with_value" in v and v.get("count", 0) > 0]
    return 4 + len(metrics)


def test_html_is_self_contained(founding_run):
    """No external script, stylesheet or image: nothing the page loads has a URL (works offline, no CDN)."""
    text = _html(founding_run)
    assert not re.search(r"<script[^>]+src=", text)
    assert not re.search(r"<link[^>]+href=", text)
    assert not re.search(r"<img[^>]+src=\"?https?:", text)
    assert text.count('class="plotly-graph-div"') == _expected_charts(founding_run)
    for line in founding_run.json["reading"]:
        assert html.escape(line) in text


def _browser_unavailable() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (test extra)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: run scripts/install-browser.sh (as root, with apt) or set TOKENSIM_CHROMIUM"
    return None


def test_html_renders_in_headless_chromium(founding_run, tmp_path):
    """Open report.html from disk in headless chromium: every Plotly chart draws an svg with its traces, the page
    logs no console error and raises no exception; the first screen is saved as a PNG."""
    text = _html(founding_run)
    reason = _browser_unavailable()
    if reason is not None:
        if os.environ.get("TOKENSIM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"TOKENSIM_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    expected = _expected_charts(founding_run)
    assert text.count('class="plotly-graph-div"') == expected
    errors: list[str] = []
    shot = tmp_path / "report-html.png"
    with sync_playwright() as p:
        # --no-sandbox: chromium refuses to run as root with its sandbox (CI runs as root)
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.goto((founding_run.out / "report.html").resolve().as_uri(), wait_until="load")
            page.wait_for_function(
                "n => document.querySelectorAll('.plotly-graph-div .main-svg').length >= n", arg=expected,
                timeout=20_000)
            charts = page.evaluate("""() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(d => ({
                id: d.id, svgs: d.querySelectorAll('svg.main-svg').length,
                traces: d.querySelectorAll('g.trace').length,
                marks: d.querySelectorAll('g.trace path, g.trace .point').length,
                xtitle: (d.querySelector('.g-xtitle') || {}).textContent || '',
                ytitle: (d.querySelector('.g-ytitle') || {}).textContent || '',
                height: d.getBoundingClientRect().height}))""")
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert len(charts) == expected
    for chart in charts:
        assert chart["svgs"] >= 1 and chart["traces"] >= 1 and chart["marks"] >= 1, chart
        assert chart["height"] > 200, chart
        assert chart["xtitle"] and chart["ytitle"], f"unlabelled axis: {chart}"
    assert not errors, errors
    assert shot.stat().st_size > 10_000
    if os.environ.get("TOKENSIM_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, ROOT / "docs" / "report-html.png")


def test_money_axes_carry_the_currency(founding_run):
    """Axis titles name the unit (tokensim.plots._style conventions): the unit-cost and bridge charts "CNY per
    million tokens"; the monthly cash flows, about CNY 121 m of rent a month (9,600 GPUs x CNY 17.24 per GPU-hour x
    730 hours), "CNY m per month"."""
    text = _html(founding_run)
    titles = re.findall(r'"title":\{"text":"([^"]+)"', text)
    assert titles.count("CNY per million tokens") == 2, titles
    assert "CNY m per month" in titles, titles


def test_without_the_report_extra_run_out_leaves_both_files_out_and_says_so(founding_run, tmp_path, monkeypatch,
                                                                             capsys):
    """openpyxl and plotly absent (None in sys.modules makes their import fail): the tables are still written, the
    workbook and the page are not, and stderr names the missing package and the extra."""
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.offline", None)
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    monkeypatch.setattr(report_module, "write_plot_pack", lambda report, out: [])  # the PNGs are not under test
    written = {p.name for p in report_module.write_artifacts(founding_run.report, tmp_path)}
    assert "unit_costs.csv" in written and "finance_schedule.parquet" in written
    assert "report.xlsx" not in written and "report.html" not in written
    assert not (tmp_path / "report.xlsx").exists() and not (tmp_path / "report.html").exists()
    err = capsys.readouterr().err
    assert "report.xlsx not written: openpyxl is not installed" in err
    assert "report.html not written: plotly" in err and "tokensim[report]" in err
