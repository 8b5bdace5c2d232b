"""Writing results: atomic files, JSON/CSV/Parquet serialisation and human tables.

Stages return dataclasses, dicts or DataFrames; the CLI hands them here. Files are written to a temporary file in the
target folder and renamed into place, so a crash or a user error never leaves a half-written file.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import ParameterError, UserError

__all__ = ["check_output_path", "atomic_write_bytes", "atomic_write_text", "to_jsonable", "dumps_json", "write_table",
           "render_table"]

SCHEMA_VERSION = "1.0"


def check_output_path(path: str | Path, param: str, *, folder: bool = False) -> Path:
    """Check, before any work starts, that ``path`` can be written; make its folder.

    The one place every output path is checked (a file, or with ``folder`` a folder of files): the path is not
    empty; no existing part of it above the target is a file; a file target is not an existing folder and a folder
    target not an existing file; the folder exists or can be made; and a file can be created in it (a probe file is
    made and removed, which catches read-only file systems, permissions and pseudo file systems such as /proc).

    Parameters
    ----------
    path : str or Path
        The output file or folder as the user gave it.
    param : str
        The parameter (or CLI destination) that holds it, named in the error.
    folder : bool
        The path is a folder to write files into.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    ParameterError
        Naming ``param``, the path and the reason (exit status 2 on the command line).
    """
    text = str(path)
    kind = "folder" if folder else "file"
    if not text.strip():
        raise ParameterError(param, f"'': an empty path; allowed: a {kind} name")
    target = Path(text).expanduser()
    try:
        if target.exists() and target.is_dir() != folder:
            raise ParameterError(param, f"{text!r}: is {'a file' if folder else 'a folder'}; allowed: a {kind} name")
        directory = target if folder else target.parent
        existing = directory
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if existing.exists() and not existing.is_dir():
            raise ParameterError(param, f"{text!r}: '{existing}' is a file, not a folder")
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".tokensim-probe.", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ParameterError(param, f"{text!r}: cannot write there ({exc.strerror or exc})") from None
    return target


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed into place: readers see the old file or the whole
    new one, never a part; the temporary file is removed on any failure or interrupt.

    Parameters
    ----------
    path : str or Path
        The file to write; its folder is made if missing.
    data : bytes
        The content.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    UserError
        When the operating system refuses (the path and its reason).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # mkstemp creates 0600; give the file the mode an ordinary open() would (0666 less the umask)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise UserError(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types: dataclasses and mappings to objects, arrays to lists, NaN/inf to null."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if hasattr(obj, "to_dict"):
            return to_jsonable(obj.to_dict())
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):  # DataFrame
        return [to_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def dumps_json(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n"


def _frame(rows: Any):
    import pandas as pd

    if hasattr(rows, "columns"):
        return rows
    if isinstance(rows, Mapping):
        rows = [rows]
    return pd.DataFrame([to_jsonable(r) if not isinstance(r, Mapping) else dict(r) for r in rows])


def _columnar(frame):
    """Object columns holding mixed types or nested values become JSON text, so Parquet gets one type a column."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        values = [v for v in frame[column] if v is not None]
        kinds = {type(v) for v in values}
        if len(kinds) > 1 or any(isinstance(v, (dict, list, tuple)) for v in values):
            frame[column] = [None if v is None else v if isinstance(v, str)
                             else json.dumps(to_jsonable(v), allow_nan=False) for v in frame[column]]
    return frame


def write_table(rows: Any, path: str | Path) -> Path:
    """Write rows (DataFrame, list of dicts or one dict) as CSV or Parquet by the file's suffix, atomically."""
    path = Path(path)
    frame = _columnar(_frame(rows))
    if path.suffix == ".parquet":
        return atomic_write_bytes(path, parquet_bytes(frame))
    return atomic_write_text(path, frame.to_csv(index=False))


def _cell(value: Any) -> Any:
    """A table value as an Excel cell value: numbers stay numbers, NaN and empty text an empty cell (what the CSV
    holds), infinities text (Excel has none)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value):
        return None
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def write_workbook(sheets: Mapping[str, Any], path: str | Path, *, about: Sequence[tuple[str, Any]] = ()) -> Path:
    """Write tables as one .xlsx (openpyxl, the ``report`` extra, imported here), atomically: an ``about`` sheet
    of (key, value) rows first when given, then one sheet per table named as its CSV. Each table sheet holds the
    frame its CSV holds (:func:`write_table`): the same column names in a bold, frozen header row, numbers as numbers,
    text as text (never a formula), NaN as an empty cell."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import TYPE_STRING
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    bold = Font(bold=True)

    def put(sheet, row: int, values: Sequence[Any]) -> None:
        for col, value in enumerate(values, start=1):
            cell = sheet.cell(row=row, column=col, value=_cell(value))
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = TYPE_STRING  # text such as "=1.2" stays text
            elif isinstance(cell.value, float):
                # openpyxl writes numbers as "%.16g", one digit short of a float's round trip: hand its writer the
                # shortest round-trip text (repr) of the number cell instead, so the xlsx holds the CSV's float
                cell._value = repr(cell.value)

    if about:
        sheet = book.create_sheet("about")
        for row, (key, value) in enumerate(about, start=1):
            put(sheet, row, [key, value])
            sheet.cell(row=row, column=1).font = bold
        sheet.column_dimensions["A"].width = 24
        sheet.column_dimensions["B"].width = 120
    for name, rows in sheets.items():
        frame = _columnar(_frame(rows))
        sheet = book.create_sheet(str(name)[:31])
        put(sheet, 1, [str(c) for c in frame.columns])
        for cell in sheet[1]:
            cell.font = bold
        for row, values in enumerate(frame.itertuples(index=False, name=None), start=2):
            put(sheet, row, values)
        sheet.freeze_panes = "A2"
        for col, column in enumerate(frame.columns, start=1):
            width = max([len(str(column)), *(len(_fmt(v)) for v in frame[column].head(200))], default=8)
            sheet.column_dimensions[sheet.cell(row=1, column=col).column_letter].width = min(width + 2, 60)
    buffer = io.BytesIO()
    book.save(buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def parquet_bytes(rows: Any) -> bytes:
    """Rows as one Parquet file in memory (mixed or nested columns as JSON text)."""
    buffer = io.BytesIO()
    _columnar(_frame(rows)).to_parquet(buffer, index=False)
    return buffer.getvalue()


def csv_text(rows: Any) -> str:
    return _frame(rows).to_csv(index=False)


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return "NaN"
        mag = abs(float(value))
        if mag == 0:
            return "0"
        if mag >= 1e15 or mag < 1e-3:  # beyond any money amount a table shows, or tiny: scientific
            return f"{value:.4g}"
        if mag >= 1e6:  # money in tables is read by people: 2,333,000,000, never 2.333e+09 (issue 16)
            return f"{value:,.0f}"
        if mag >= 100:
            return f"{value:,.1f}"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def render_table(rows: Sequence[Mapping[str, Any]] | Mapping[str, Any], title: str | None = None,
                 columns: Sequence[str] | None = None) -> str:
    """A plain-text table (rich) for people; a single mapping renders as a two-column key/value table."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # text is data, never rich markup: a label such as "[servers before the rise]" would otherwise vanish as a tag
    table = Table(title=escape(title) if title else title, show_lines=False, header_style="bold")
    if isinstance(rows, Mapping):
        table.add_column("field")
        table.add_column("value", justify="right")
        for key, value in rows.items():
            table.add_row(escape(str(key)), escape(_fmt(value)))
    else:
        rows = list(rows)
        cols = list(columns or (rows[0].keys() if rows else []))
        for col in cols:
            table.add_column(escape(str(col)), justify="right")
        for row in rows:
            table.add_row(*(escape(_fmt(row.get(c))) for c in cols))
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, force_terminal=False, color_system=None)
    console.print(table)
    return buffer.getvalue()
