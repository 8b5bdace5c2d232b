"""What every tokensim chart shares: the figure, the footnote naming its source, money scaling, the PNG write.

matplotlib is imported inside these functions only (``import tokensim`` must not pay for it, DESIGN.md §9), and only
through ``matplotlib.figure.Figure``: no pyplot, so no global figure state and no backend switch in a user's notebook.
A ``Figure`` saved to PNG renders with Agg whatever backend is active.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .._output import atomic_write_bytes
from .._paths import config_dir
from .._version import __version__

# A colour-blind-safe qualitative palette (Okabe & Ito, "Color Universal Design", 2008): curves and bar families.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
FALL = "#009E73"   # a bar that lowers cost (or raises value) is green ...
RISE = "#D55E00"   # ... and one that raises cost red, the convention of finance waterfalls
NEUTRAL = "#7F7F7F"
HURDLE = "#C00000"
DPI = 120
_FOOTER_FRACTION = 0.075  # of the figure height, kept free under the axes for the source footnote


def figure(width_in: float = 10.0, height_in: float = 6.0, **subplots: Any):
    """A constrained-layout figure with room at the bottom for the footnote; returns (fig, axes)."""
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    footer = _FOOTER_FRACTION * 6.0 / height_in
    fig = Figure(figsize=(width_in, height_in), dpi=DPI,
                 layout=ConstrainedLayoutEngine(rect=(0.0, footer, 1.0, 1.0 - footer)))
    axes = fig.subplots(**subplots) if subplots else fig.subplots()
    return fig, axes


def source_line(scenario: str | None, data_source: str | None) -> str:
    """"Source: tokensim <version>, scenario <name>; <data source>" — the footnote every chart carries."""
    text = f"Source: tokensim {__version__}"
    if scenario:
        text += f", scenario {scenario}"
    if data_source:
        text += f"; {data_source}"
    return text


def finish(fig, title: str, footnote: str, path: str | Path) -> Path:
    """Title, footnote, render to PNG in memory, write atomically; the path written."""
    # ~8.5 bold 13-point characters per inch: long titles wrap rather than run off the canvas
    fig.suptitle("\n".join(textwrap.wrap(title, width=int(fig.get_figwidth() * 8.5))), fontsize=13,
                 fontweight="bold")
    wrapped = "\n".join(textwrap.wrap(footnote, width=int(fig.get_figwidth() * 17)))
    fig.text(0.01, 0.008, wrapped, ha="left", va="bottom", fontsize=7.5, color="#404040")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return atomic_write_bytes(path, buffer.getvalue())


def money_scale(values: Iterable[float]) -> tuple[float, str]:
    """A divisor and its word (bn, m, k) so the largest magnitude in ``values`` reads as 1-999."""
    finite = [abs(float(v)) for v in values if v is not None and math.isfinite(float(v))]
    top = max(finite, default=0.0)
    for divisor, word in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if top >= divisor:
            return divisor, word
    return 1.0, ""


def money_label(currency: str, word: str, per: str = "") -> str:
    """Axis label of an amount: "CNY m per month", "USD per million tokens"."""
    label = currency.upper() + (f" {word}" if word else "")
    return f"{label} {per}".strip()


def percent_axis(axis, decimals: int = 0) -> None:
    """Show an axis holding fractions (0.12) as percentages (12%)."""
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=decimals))


def fmt_value(value: float, percent: bool = False) -> str:
    """A number for a label: a percentage with one decimal for fractions, else three significant figures."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if percent:
        return f"{value:.1%}"
    mag = abs(value)
    if mag >= 1e9:
        return f"{value / 1e9:.3g}bn"
    if mag >= 1e6:
        return f"{value / 1e6:.3g}m"
    return f"{value:,.3g}" if mag < 1e4 else f"{value:,.0f}"


def column_words(column: str) -> str:
    """An output column's name for an axis (issue 16: axes showed raw column names): ``rent_per_gpu_hour_usd`` →
    "rent per GPU-hour (USD)", ``spot_utilisation`` → "spot utilisation"."""
    currency = re.search(r"_([a-z]{3})$", column)
    base = column[: currency.start()] if currency and currency.group(1) in ("usd", "cny", "eur") else column
    text = base.replace("_", " ")
    for raw, nice in (("gpu hour", "GPU-hour"), ("per gpu", "per GPU"), ("npv", "NPV"), ("irr", "IRR"),
                      ("dscr", "DSCR"), ("tokens per s", "tokens/s"), ("tp", "TP"), ("ep", "EP")):
        text = re.sub(rf"\b{raw}\b", nice, text)
    return text + (f" ({currency.group(1).upper()})" if base != column and currency else "")


def calibration_source() -> str:
    """Where the performance model's efficiency factors come from, from configs/calibration.yaml's ``fit`` block."""
    try:
        fit = (yaml.safe_load((config_dir() / "calibration.yaml").read_text()) or {}).get("fit") or {}
    except Exception:  # the footnote must never stop a chart; the catalogue loader reports a broken file itself
        fit = {}
    data = str(fit.get("data", "measurements.csv")).split(" sha256:")[0]
    if fit.get("rows") and fit.get("date"):
        return (f"performance model calibrated to {fit['rows']} published measurements in {data} "
                f"({fit.get('sources', '?')} sources, fit {fit['date']}; configs/calibration.yaml)")
    return "performance model with the efficiency factors of configs/calibration.yaml"
