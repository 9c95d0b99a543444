"""Read a CSV or XLSX export into a :class:`Table` of text cells, or fail with ImportFileError."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from fieldcrm.dataio.encoding import detect_delimiter, detect_encoding
from fieldcrm.errors import Cancelled, ImportFileError

MAX_COLUMNS = 1_000
MAX_ROWS = 2_000_000
MAX_CSV_BYTES = 1 << 30  # 1 GiB: the whole file is decoded in memory
_PROGRESS_EVERY = 5_000
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Progress = Callable[[int, int], None]
IsCancelled = Callable[[], bool]


@dataclass(slots=True)
class Table:
    """A sheet of text cells with its header.

    ``row_numbers[i]`` is the spreadsheet row number of ``rows[i]`` (the header row of a plain
    CSV is row 1), which every message uses. ``problems`` maps an index in ``rows`` to the
    reason the row cannot be imported as it is (ragged row, NUL characters...).
    """

    headers: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)
    problems: dict[int, str] = field(default_factory=dict)
    source: str = ""
    encoding: str = ""
    delimiter: str = ""
    sheet: str = ""
    decimal_hint: str = ""  # "." when the file stores real numbers (XLSX), "" to detect


def unescape_cell(text: str) -> str:
    """Undo the ``'`` that fieldcrm's exports put before a formula-like cell (``'=1+2`` → ``=1+2``)."""
    if len(text) > 1 and text[0] == "'" and text[1] in _FORMULA_STARTS:
        return text[1:]
    return text


def _check(cancelled: IsCancelled | None) -> None:
    if cancelled is not None and cancelled():
        raise Cancelled("Import cancelled.")


def _too_wide(width: int, row_number: int, source: str) -> ImportFileError:
    return ImportFileError(
        f"{source}: row {row_number} has {width:,} columns; fieldcrm reads at most "
        f"{MAX_COLUMNS:,}. Is the delimiter right, or is this not a table?"
    )


class _Builder:
    """Collects data rows under a header, padding short rows and recording problems."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.table: Table | None = None

    def add(self, number: int, cells: list[str]) -> None:
        cells = [unescape_cell(c) for c in cells]
        used = len(cells)  # cells up to the last non-blank one; blank ones after it don't count
        while used and not cells[used - 1].strip():
            used -= 1
        if not used:
            return  # blank rows are skipped silently
        if self.table is None:
            if used > MAX_COLUMNS:
                raise _too_wide(used, number, self.source)
            self.table = Table(headers=tuple(c.strip() for c in cells[:used]), source=self.source)
            return
        table, width = self.table, len(self.table.headers)
        if len(table.rows) >= MAX_ROWS:
            raise ImportFileError(f"{self.source}: more than {MAX_ROWS:,} rows; split the file.")
        index = len(table.rows)
        if used > width:
            table.problems[index] = f"row has {used:,} cells but the header has {width:,} columns"
        cells = cells[:width] + [""] * (width - len(cells))
        if any("\x00" in c for c in cells):
            column = next(table.headers[i] for i, c in enumerate(cells) if "\x00" in c)
            table.problems[index] = f"column {column!r} contains NUL characters (binary data?)"
            cells = [c.replace("\x00", "") for c in cells]
        table.rows.append(tuple(cells))
        table.row_numbers.append(number)

    def finish(self) -> Table:
        if self.table is None:
            raise ImportFileError(f"{self.source}: the file is empty (no header row).")
        return self.table


def _skip_title_rows(records: list[list[str]]) -> int:
    """Return how many leading rows are a title above the header (e.g. "Report: Accounts")."""
    widths = [sum(1 for c in r if c.strip()) for r in records[:20]]
    wide = [w for w in widths if w >= 2]
    if not wide:
        return 0
    target = max(wide)
    for i, w in enumerate(widths):
        if w >= max(2, target // 2):
            return i
    return 0


def _csv_records(text: str, delimiter: str, source: str) -> Iterator[list[str]]:
    """Yield CSV records; an unclosed quote raises ImportFileError naming where it opened."""
    done = 0
    try:
        for record in csv.reader(io.StringIO(text), delimiter=delimiter, strict=True):
            done += 1
            yield record
        return
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise ImportFileError(
                f"{source}: row {done + 1} opens a quote (\") that never closes."
            ) from None
        if "field larger than field limit" in str(exc):
            raise ImportFileError(
                f"{source}: row {done + 1} has a cell longer than {csv.field_size_limit():,} "
                "characters (an unclosed quote?)."
            ) from None
    # Sloppy but common quoting (`"a"b`): read the rest leniently, from where strict stopped.
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=False)
    try:
        for i, record in enumerate(reader):
            if i >= done:
                yield record
    except csv.Error as exc:
        raise ImportFileError(f"{source}: row {reader.line_num}: {exc}.") from None


def read_csv_bytes(
    data: bytes,
    *,
    source: str = "file",
    encoding: str | None = None,
    delimiter: str | None = None,
    progress: Progress | None = None,
    cancelled: IsCancelled | None = None,
) -> Table:
    """Decode and parse CSV bytes into a :class:`Table`, detecting encoding and delimiter.

    Raises
    ------
    ImportFileError
        If the bytes cannot be decoded or parsed; the message names the row.
    Cancelled
        If ``cancelled()`` turns true.
    """
    enc = encoding or detect_encoding(data)
    try:
        text = data.decode(enc)
    except (UnicodeDecodeError, LookupError) as exc:
        raise ImportFileError(f"{source}: cannot be read as {enc}: {exc}.") from None
    text = text.lstrip("\ufeff")
    if text.count("\x00") > max(16, len(text) // 10):
        raise ImportFileError(f"{source}: looks like a binary file, not CSV text.")
    sep = delimiter or detect_delimiter(text)
    total = text.count("\n") + 1
    records = _csv_records(text, sep, source)
    head = [r for _, r in zip(range(20), records, strict=False)]
    skip = _skip_title_rows(head)
    builder = _Builder(source)
    for number, record in enumerate(_chain(head, records), start=1):
        if number <= skip:
            continue
        if number % _PROGRESS_EVERY == 0:
            _check(cancelled)
            if progress:
                progress(number, max(total, number))
        builder.add(number, record)
    table = builder.finish()
    table.encoding, table.delimiter = enc, sep
    if progress:
        progress(total, total)
    return table


def _chain(first: list[list[str]], rest: Iterable[list[str]]) -> Iterator[list[str]]:
    yield from first
    yield from rest


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def sheet_names(path: str | os.PathLike[str]) -> list[str]:
    """Return the names of the worksheets of an XLSX file.

    Raises
    ------
    ImportFileError
        If the file is not a readable workbook.
    """
    workbook = _open_workbook(Path(path))
    try:
        return list(workbook.sheetnames)
    finally:
        workbook.close()


def _open_workbook(path: Path):  # noqa: ANN202 - openpyxl's Workbook
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds for a broken zip or XML
        raise ImportFileError(
            f"{path.name}: not a readable XLSX workbook ({type(exc).__name__}: {exc})."
        ) from None


def _worksheet(workbook, sheet: str | None, name: str):  # noqa: ANN001, ANN202 - openpyxl types
    if sheet is not None and sheet not in workbook.sheetnames:
        raise ImportFileError(f"{name}: no sheet named {sheet!r}.")
    if sheet is None and not workbook.worksheets:
        raise ImportFileError(f"{name}: the workbook has no worksheet.")
    return workbook[sheet] if sheet is not None else workbook.worksheets[0]


def read_xlsx(
    path: str | os.PathLike[str],
    *,
    sheet: str | None = None,
    progress: Progress | None = None,
    cancelled: IsCancelled | None = None,
) -> Table:
    """Read one worksheet (the first by default); formulas come back as their text, never run.

    Raises
    ------
    ImportFileError
        If the workbook or the sheet cannot be read; the message names the row.
    Cancelled
        If ``cancelled()`` turns true.
    """
    path = Path(path)
    workbook = _open_workbook(path)
    try:
        builder = _Builder(path.name)
        number = 0
        try:
            worksheet = _worksheet(workbook, sheet, path.name)
            total = worksheet.max_row or 0
            for number, values in enumerate(
                worksheet.iter_rows(values_only=True, max_col=MAX_COLUMNS + 1), start=1
            ):
                if number % _PROGRESS_EVERY == 0:
                    _check(cancelled)
                    if progress:
                        progress(number, max(total, number))
                if builder.table is None and len(values) > MAX_COLUMNS and values[-1] is not None:
                    raise _too_wide(len(values), number, path.name)
                builder.add(number, [_cell_text(v) for v in values])
        except (ImportFileError, Cancelled):
            raise
        except Exception as exc:
            raise ImportFileError(
                f"{path.name}: row {number + 1} cannot be read ({type(exc).__name__}: {exc})."
            ) from None
        table = builder.finish()
        table.sheet, table.decimal_hint = worksheet.title, "."
        return table
    finally:
        workbook.close()


def read_table(
    path: str | os.PathLike[str],
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    progress: Progress | None = None,
    cancelled: IsCancelled | None = None,
) -> Table:
    """Read a CSV or XLSX file (by its content, then its suffix) into a :class:`Table`.

    Raises
    ------
    ImportFileError
        If the file is missing, of an unsupported kind, or unreadable.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise ImportFileError(f"{path.name}: cannot be opened ({exc.strerror}).") from None
    suffix = path.suffix.lower()
    if head.startswith(b"PK\x03\x04") or suffix in (".xlsx", ".xlsm"):
        return read_xlsx(path, sheet=sheet, progress=progress, cancelled=cancelled)
    if head.startswith(b"\xd0\xcf\x11\xe0") or suffix == ".xls":
        raise ImportFileError(f"{path.name}: old Excel (.xls) files are not read; save as XLSX or CSV.")
    if path.stat().st_size > MAX_CSV_BYTES:
        raise ImportFileError(f"{path.name}: larger than 1 GiB; split the file.")
    return read_csv_bytes(
        path.read_bytes(), source=path.name, encoding=encoding, delimiter=delimiter,
        progress=progress, cancelled=cancelled,
    )
