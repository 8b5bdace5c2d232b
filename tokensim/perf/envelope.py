"""The validated envelope: how many published measurements back a prediction's hardware family, model family and
per-user speed band (issue 11, Build item 5).

A prediction falls outside the envelope (``extrapolation: true``) when ``tokensim/data/measurements.csv`` holds fewer
than :data:`MIN_ENVELOPE_ROWS` rows of the same hardware family x model family x speed band. The count is of measured
rows whose hardware and model are in the catalogue, whether or not the model can run them yet; it is read once per
process and cached (:func:`envelope_counts`).

Speed bands (:func:`speed_band`), in output tokens/s per user: ``<20``, ``20-50``, ``50-100``, ``>100`` (lower edge
inclusive), and ``none`` for a row or prediction with no stated per-user speed (max-throughput rows; a prediction
with neither an SLO nor a fixed concurrency; prefill).
"""

from __future__ import annotations

import csv
import functools
import math
from pathlib import Path

from .._errors import UserError
from ..config.catalog import load_catalog

__all__ = ["BANDS", "MIN_ENVELOPE_ROWS", "MEASUREMENTS_PATH", "speed_band", "envelope_counts", "envelope_rows"]

MEASUREMENTS_PATH = Path(__file__).resolve().parent.parent / "data" / "measurements.csv"
# Band edges (tokens/s per user) from issue 11, Build item 5; "none": no stated per-user speed.
BANDS = ("<20", "20-50", "50-100", ">100", "none")
_EDGES = ((20.0, "<20"), (50.0, "20-50"), (100.0, "50-100"))
# Fewer measured rows than this in a hardware family x model family x band: the prediction extrapolates (issue 11).
MIN_ENVELOPE_ROWS = 10


def speed_band(tokens_per_s_per_user: float | None) -> str:
    """The per-user speed band of a decode speed.

    Parameters
    ----------
    tokens_per_s_per_user : float or None
        Output tokens per second seen by one user; None or NaN for no stated speed.

    Returns
    -------
    str
        One of :data:`BANDS`: ``<20``, ``20-50``, ``50-100``, ``>100`` (each lower edge inclusive) or ``none``.
    """
    if tokens_per_s_per_user is None or not math.isfinite(tokens_per_s_per_user):
        return "none"
    for edge, label in _EDGES:
        if tokens_per_s_per_user < edge:
            return label
    return ">100"


@functools.lru_cache(maxsize=4)
def envelope_counts(path: str | None = None) -> dict[tuple[str, str, str], int]:
    """Measured rows per (hardware family, model family, speed band) of a measurement file.

    Parameters
    ----------
    path : str, optional
        A measurement CSV (default: the bundled ``tokensim/data/measurements.csv``).

    Returns
    -------
    dict
        ``(hardware family, model family, band) -> rows``; rows naming hardware or a model not in the catalogue are
        not counted. A row's band is that of its ``tokens_per_s_per_user`` column (``none`` when blank or absent).
    """
    cat = load_catalog()
    counts: dict[tuple[str, str, str], int] = {}
    with Path(path or MEASUREMENTS_PATH).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                hw = cat.get_hardware(row.get("hardware") or "").family
                model = cat.get_model(row.get("model") or "").family
            except UserError:
                continue
            text = (row.get("tokens_per_s_per_user") or "").strip()
            try:
                speed = float(text) if text else None
            except ValueError:
                speed = None
            key = (hw, model, speed_band(speed))
            counts[key] = counts.get(key, 0) + 1
    return counts


def envelope_rows(hardware_family: str, model_family: str, band: str) -> int:
    """Measured rows of the bundled dataset in one hardware family x model family x speed band.

    Parameters
    ----------
    hardware_family, model_family : str
        Catalogue family names (``blackwell-ultra``, ``deepseek``).
    band : str
        One of :data:`BANDS`.

    Returns
    -------
    int
        Rows (count); a prediction with fewer than :data:`MIN_ENVELOPE_ROWS` is an extrapolation.
    """
    return envelope_counts().get((hardware_family, model_family, band), 0)
