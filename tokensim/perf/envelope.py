"""The validated envelope: how many published measurements back a prediction's hardware family, model family and
per-user speed band (issue 11, Build item 5). The model family is
:attr:`tokensim.config.models.ModelSpec.envelope_family`: a family member with its own attention kind (DeepSeek-V4's
compressed attention, Qwen3.5's linear attention) counts only its own rows.

A prediction falls outside the envelope (``extrapolation: true``) when ``tokensim/data/measurements.csv`` holds fewer
than :data:`MIN_ENVELOPE_ROWS` rows of the same hardware family x model family x speed band, or when it serves more
sequences per GPU than any of those rows measured at a stated client concurrency
(:func:`envelope_sequences_per_gpu`: client concurrency over all the GPUs of the deployment), or when no row of its
hardware family x model family ran its layout kind (:func:`envelope_layout_rows`: TP, TEP, DEP, DTP, AFD, any band). The
counts are of measured rows whose hardware and model are in the catalogue, whether or not the model can run them yet;
they are read once per process and cached (:func:`envelope_counts`).

Speed bands (:func:`speed_band`), in output tokens/s per user: ``<20``, ``20-50``, ``50-100``, ``>100`` (lower edge
inclusive), and ``none`` for a row or prediction with no stated per-user speed (max-throughput rows; a prediction
with neither an SLO nor a fixed concurrency; prefill).
"""

from __future__ import annotations

import csv
import functools
import math
import re
from pathlib import Path

from .._errors import UserError
from ..config.catalog import load_catalog
from ._afd import is_afd

__all__ = ["BANDS", "MIN_ENVELOPE_ROWS", "MEASUREMENTS_PATH", "speed_band", "envelope_counts", "envelope_rows",
           "envelope_sequences_per_gpu", "layout_kind", "envelope_layout_rows"]

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
    return {key: n for key, (n, _) in _cells(path).items()}


@functools.lru_cache(maxsize=4)
def _catalogued(path: str | None = None) -> tuple[tuple[str, str, dict[str, str]], ...]:
    """(hardware family, model family, row) of every row of a measurement file whose hardware and model are in the
    catalogue, read once per process."""
    cat = load_catalog()
    out = []
    with Path(path or MEASUREMENTS_PATH).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                out.append((cat.get_hardware(row.get("hardware") or "").family,
                            cat.get_model(row.get("model") or "").envelope_family, row))
            except UserError:
                continue
    return tuple(out)


@functools.lru_cache(maxsize=4)
def _cells(path: str | None = None) -> dict[tuple[str, str, str], tuple[int, float | None]]:
    """(rows, largest client concurrency per GPU or None) per (hardware family, model family, speed band)."""
    counts: dict[tuple[str, str, str], tuple[int, float | None]] = {}
    for hw, model, row in _catalogued(path):
        speed = _number(row.get("tokens_per_s_per_user"))
        key = (hw, model, speed_band(speed))
        n, most = counts.get(key, (0, None))
        per_gpu = _number(row.get("concurrency")) / _number(row.get("system_gpus"))
        if math.isfinite(per_gpu) and per_gpu > 0:
            most = per_gpu if most is None else max(most, per_gpu)
        counts[key] = (n + 1, most)
    return counts


def _number(text: str | None) -> float:
    try:
        return float((text or "").strip() or "nan")
    except ValueError:
        return math.nan


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


def envelope_sequences_per_gpu(hardware_family: str, model_family: str, band: str,
                               path: str | None = None) -> float | None:
    """The most sequences per GPU a measured row of one hardware family x model family x speed band served.

    Parameters
    ----------
    hardware_family, model_family : str
        Catalogue family names.
    band : str
        One of :data:`BANDS`.
    path : str, optional
        A measurement CSV (default: the bundled one).

    Returns
    -------
    float or None
        The largest client concurrency over the deployment's GPUs (``concurrency / system_gpus``) among the rows
        that state both; None when none does. A prediction serving more is an extrapolation.
    """
    return _cells(path).get((hardware_family, model_family, band), (0, None))[1]


_POOL_KIND = re.compile(r"^\s*(?:[0-9?]+\s*x\s*)?(TP|TEP|DEP|DTP)\s*[0-9]+\s*$", re.IGNORECASE)


def layout_kind(gpus: int, tp: int, ep: int) -> str:
    """The kind of an instance layout, as ``Deployment.label`` names it without the GPU count: ``TP`` (tp = gpus,
    ep = 1), ``DTP`` (tp = ep = 1 on more GPUs), ``TEP`` (tp = ep = gpus), ``DEP`` (tp = 1, ep = gpus), else
    ``mixed``.

    Parameters
    ----------
    gpus, tp, ep : int
        GPUs per instance, tensor-parallel and expert-parallel sizes.

    Returns
    -------
    str
        The kind.
    """
    if ep == 1 and tp == gpus:
        return "TP"
    if ep == 1 and tp == 1:
        return "DTP"
    if ep == gpus and tp == gpus:
        return "TEP"
    if ep == gpus and tp == 1:
        return "DEP"
    return "mixed"


@functools.lru_cache(maxsize=4)
def _layouts(path: str | None = None) -> dict[tuple[str, str, str], int]:
    """Rows per (hardware family, model family, layout kind): the decode pool's kind where the row names one (``AFD``
    for an attention-FFN disaggregated one), else the
    kind of its ``instance_gpus``/``tp``/``ep``; rows that give neither are not counted."""
    counts: dict[tuple[str, str, str], int] = {}
    for hw, model, row in _catalogued(path):
        pool = _POOL_KIND.match(row.get("decode_pool") or "")
        sizes = [_number(row.get(k)) for k in ("instance_gpus", "tp", "ep")]
        if is_afd(row.get("decode_pool")):
            kind = "AFD"
        elif pool:
            kind = pool[1].upper()
        elif all(math.isfinite(v) and v >= 1 for v in sizes):
            kind = layout_kind(*(int(v) for v in sizes))
        else:
            continue
        counts[(hw, model, kind)] = counts.get((hw, model, kind), 0) + 1
    return counts


def envelope_layout_rows(hardware_family: str, model_family: str, kind: str, path: str | None = None) -> int:
    """Measured rows of one hardware family x model family that ran a layout kind (any speed band).

    Parameters
    ----------
    hardware_family, model_family : str
        Catalogue family names.
    kind : str
        :func:`layout_kind`'s name.
    path : str, optional
        A measurement CSV (default: the bundled one).

    Returns
    -------
    int
        Rows; 0 makes a prediction of that layout an extrapolation.
    """
    return _layouts(path).get((hardware_family, model_family, kind), 0)
