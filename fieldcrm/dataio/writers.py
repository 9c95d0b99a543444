"""Write rows as CSV, XLSX or GeoJSON; text cells that a spreadsheet would run are escaped."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from fieldcrm.dataio.readers import Table
from fieldcrm.dataio.validate import Issue
from fieldcrm.errors import Cancelled, FieldCrmError

FORMATS: tuple[str, ...] = ("csv", "xlsx", "geojson")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PROGRESS_EVERY = 5_000

Progress = Callable[[int, int], None]
IsCancelled = Callable[[], bool]


def escape_cell(value: str) -> str:
    """Prefix ``'`` to text a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``)."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def cell_text(value: Any) -> str:
    """Return the text of one exported value (ISO dates, tags joined by commas, "" for None)."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list | set | frozenset):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def _tick(i: int, total: int, progress: Progress | None, cancelled: IsCancelled | None) -> None:
    if i % _PROGRESS_EVERY:
        return
    if cancelled is not None and cancelled():
        raise Cancelled("Export cancelled.")
    if progress:
        progress(i, total)


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write to a temporary file beside ``path`` and rename it, so a failure leaves no half file."""
    tmp = path.with_name(f".{path.name}.part")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise FieldCrmError(f"Cannot write {path}: {exc.strerror or exc}.") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_csv(
    path: str | os.PathLike[str],
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8-sig",
    progress: Progress | None = None,
    cancelled: IsCancelled | None = None,
) -> int:
    """Write a CSV file (UTF-8 with BOM so that Excel reads it); return the number of rows.

    Raises
    ------
    FieldCrmError
        If the file cannot be written.
    Cancelled
        If ``cancelled()`` turns true (no file is left behind).
    """

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding=encoding, newline="") as handle:
            writer = csv.writer(handle, delimiter=delimiter)
            writer.writerow([escape_cell(h) for h in headers])
            for i, row in enumerate(rows):
                _tick(i, len(rows), progress, cancelled)
                writer.writerow([_csv_value(v) for v in row])

    _write_atomically(Path(path), write)
    return len(rows)


def _csv_value(value: Any) -> str:
    text = cell_text(value)
    return text if isinstance(value, int | float | Decimal) else escape_cell(text)


def write_xlsx(
    path: str | os.PathLike[str],
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    sheet: str = "Export",
    progress: Progress | None = None,
    cancelled: IsCancelled | None = None,
) -> int:
    """Write an XLSX workbook with one sheet; text cells are stored as text, never formulas.

    Raises
    ------
    FieldCrmError
        If the file cannot be written.
    Cancelled
        If ``cancelled()`` turns true (no file is left behind).
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    def write(tmp: Path) -> None:
        workbook = Workbook(write_only=True)
        worksheet = workbook.create_sheet(sheet[:31])

        def cells(values: Iterable[Any]) -> list[Any]:
            out = []
            for value in values:
                if isinstance(value, bool | int | float | Decimal) or value is None:
                    out.append(value)
                    continue
                cell = WriteOnlyCell(worksheet, _xlsx_text(value))
                cell.data_type = "s"  # a string cell: openpyxl would store "=..." as a formula
                out.append(cell)
            return out

        worksheet.append(cells(headers))
        for i, row in enumerate(rows):
            _tick(i, len(rows), progress, cancelled)
            worksheet.append(cells(row))
        workbook.save(tmp)

    _write_atomically(Path(path), write)
    return len(rows)


_ILLEGAL_XML = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32)])


def _xlsx_text(value: Any) -> str:
    return escape_cell(cell_text(value)).translate(_ILLEGAL_XML)


def write_geojson(
    path: str | os.PathLike[str],
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    lat: str = "lat",
    lon: str = "lon",
    progress: Progress | None = None,
    cancelled: IsCancelled | None = None,
) -> int:
    """Write a GeoJSON FeatureCollection of points (rows without coordinates are left out).

    Returns the number of features written.

    Raises
    ------
    FieldCrmError
        If the file cannot be written or ``lat``/``lon`` are not among ``headers``.
    """
    try:
        ilat, ilon = list(headers).index(lat), list(headers).index(lon)
    except ValueError:
        raise FieldCrmError(f"GeoJSON export needs {lat!r} and {lon!r} columns.") from None
    features = []
    for i, row in enumerate(rows):
        _tick(i, len(rows), progress, cancelled)
        y, x = row[ilat], row[ilon]
        if y is None or x is None:
            continue
        properties = {h: _json_value(v) for h, v in zip(headers, row, strict=True)
                      if h not in (lat, lon)}
        features.append({"type": "Feature", "properties": properties,
                         "geometry": {"type": "Point", "coordinates": [float(x), float(y)]}})
    document = {"type": "FeatureCollection", "features": features}

    def write(tmp: Path) -> None:
        tmp.write_text(json.dumps(document, ensure_ascii=False), "utf-8")

    _write_atomically(Path(path), write)
    return len(features)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, tuple | list | set | frozenset):
        return [_json_value(v) for v in value]
    return cell_text(value)


def write_rows(path: str | os.PathLike[str], fmt: str, headers: Sequence[str],
               rows: Sequence[Sequence[Any]], **kwargs: Any) -> int:
    """Write ``rows`` in ``fmt`` ("csv", "xlsx" or "geojson"); return how many were written.

    Raises
    ------
    FieldCrmError
        If ``fmt`` is unknown or the file cannot be written.
    """
    writers = {"csv": write_csv, "xlsx": write_xlsx, "geojson": write_geojson}
    if fmt not in writers:
        raise FieldCrmError(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
    return writers[fmt](path, headers, rows, **kwargs)


def write_rejects(path: str | os.PathLike[str], table: Table, rejected: Sequence[int],
                  issues: Iterable[Issue]) -> int:
    """Write the rejected rows as they were, plus a column with the reasons, to fix and re-import."""
    reasons: dict[int, list[str]] = {}
    for issue in issues:
        if issue.severity == "error":
            reasons.setdefault(issue.row, []).append(
                (f"{issue.column}: " if issue.column else "") + issue.message
            )
    headers = [*table.headers, "import errors"]
    rows = [
        [*table.rows[i], "; ".join(reasons.get(table.row_numbers[i], []))] for i in rejected
    ]
    # the cells go back exactly as read: escape_cell keeps formula-like text inert in Excel
    return write_csv(path, headers, rows)
