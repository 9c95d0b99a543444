"""Hypothesis fuzzing of the CSV/XLSX readers and the validator: clear errors, never a crash."""

from __future__ import annotations

import csv
import io
import zipfile

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldcrm.dataio.mapping import as_mapping, suggest_mapping
from fieldcrm.dataio.readers import Table, read_csv_bytes, read_table, unescape_cell
from fieldcrm.dataio.validate import Options, validate_rows
from fieldcrm.errors import ImportFileError, InvalidInput

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
cells = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=12
)
FORMULAS = st.sampled_from(["=cmd|' /C calc'!A0", "=SUM(A1:A9)", "+1+1", "-2", "@x", "=HYPERLINK(\"x\")"])


def _read_or_clear_error(data: bytes, **kwargs) -> Table | None:
    try:
        table = read_csv_bytes(data, **kwargs)
    except ImportFileError as exc:
        assert str(exc) and "Traceback" not in str(exc)
        return None
    assert table.headers
    assert all(len(r) == len(table.headers) for r in table.rows)
    assert len(table.rows) == len(table.row_numbers)
    return table


@FUZZ
@given(st.binary(max_size=2_000))
def test_any_bytes_read_or_fail_clearly(data: bytes) -> None:
    _read_or_clear_error(data)


@FUZZ
@given(st.binary(max_size=500), st.sampled_from(["utf-8", "utf-16", "cp1252", "gb18030", "big5", "latin-1"]))
def test_any_bytes_with_a_forced_encoding(data: bytes, encoding: str) -> None:
    _read_or_clear_error(data, encoding=encoding)


def _csv_text(rows: list[list[str]], delimiter: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue()


@st.composite
def tables(draw) -> list[list[str]]:
    width = draw(st.integers(1, 6))
    header = [f"h{i}" for i in range(width)]
    body = draw(st.lists(st.lists(cells | FORMULAS, min_size=width, max_size=width), max_size=15))
    return [header, *body]


def _expected(rows: list[list[str]]) -> list[tuple[str, ...]]:
    width = len(rows[0])
    out = []
    for row in rows[1:]:
        if any(c.strip() for c in row):
            out.append(tuple(unescape_cell(c) for c in row) + ("",) * (width - len(row)))
    return out


@FUZZ
@given(tables(), st.sampled_from([",", ";", "\t", "|"]), st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_written_csv_reads_back_exactly(rows: list[list[str]], delimiter: str, encoding: str) -> None:
    data = _csv_text(rows, delimiter).encode(encoding)
    table = read_csv_bytes(data, delimiter=delimiter)
    assert table.rows == _expected(rows)


@FUZZ
@given(tables(), st.data())
def test_truncated_csv_never_crashes(rows: list[list[str]], data) -> None:
    raw = _csv_text(rows, ",").encode("utf-8")
    cut = data.draw(st.integers(0, len(raw)))
    _read_or_clear_error(raw[:cut])
    _read_or_clear_error(raw[:cut] + b'"')  # a quote that never closes


def test_a_million_columns_is_refused_quickly() -> None:
    with pytest.raises(ImportFileError, match="1,000,000 columns"):
        read_csv_bytes(b",".join([b"c"] * 1_000_000) + b"\n1\n")


def _xlsx_bytes(rows: list[list[str]]) -> bytes:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


XLSX = _xlsx_bytes([["name", "formula"], ["Acme", "=cmd|' /C calc'!A0"], ["Beta", "=1+1"]])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_damaged_xlsx_fails_clearly(tmp_path, data) -> None:
    raw = bytearray(XLSX)
    how = data.draw(st.sampled_from(["truncate", "flip", "garbage"]))
    if how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 20))):
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= data.draw(st.integers(1, 255))
    else:
        raw = bytearray(b"PK\x03\x04" + data.draw(st.binary(max_size=300)))
    path = tmp_path / "fuzz.xlsx"
    path.write_bytes(bytes(raw))
    try:
        table = read_table(path)
    except ImportFileError as exc:
        assert str(exc).startswith("fuzz.xlsx")
    else:
        assert table.headers


def test_xlsx_sheet_xml_that_is_not_xml(tmp_path) -> None:
    source = zipfile.ZipFile(io.BytesIO(XLSX))
    path = tmp_path / "bad.xlsx"
    with zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            body = source.read(item.filename)
            if item.filename.endswith("sheet1.xml"):
                body = body[: len(body) // 2]
            target.writestr(item, body)
    with pytest.raises(ImportFileError, match="bad.xlsx"):
        read_table(path)


@settings(max_examples=40, deadline=None)
@given(tables())
def test_formulas_stay_text_through_xlsx(tmp_path_factory, rows: list[list[str]]) -> None:
    rows = [[c.translate(dict.fromkeys(range(32))) for c in r] for r in rows]
    path = tmp_path_factory.mktemp("x") / "f.xlsx"
    path.write_bytes(_xlsx_bytes(rows))
    table = read_table(path)
    assert table.rows == _expected(rows)


@FUZZ
@given(tables(), st.sampled_from(["accounts", "contacts", "visits", "sales"]))
def test_validation_never_crashes_and_names_rows(rows: list[list[str]], entity: str) -> None:
    headers = ["name", "account", "date", "amount", "phone", "email", "lat", "lon", "country"]
    width = len(rows[0])
    rows = [headers[:width]] + [r[:width] for r in rows[1:]]
    table = read_csv_bytes(_csv_text(rows, ",").encode(), delimiter=",")
    mapping = as_mapping(suggest_mapping(table.headers, entity))
    try:
        result = validate_rows(table, entity, mapping, options=Options(default_country="SK"))
    except InvalidInput:
        return  # a required field is not mapped: the mapping step says so
    assert len(result.records) + len(result.rejected) == len(table.rows)
    assert {i.row for i in result.issues} <= set(table.row_numbers)


_MEMBERS = [(i, zipfile.ZipFile(io.BytesIO(XLSX)).read(i.filename))
            for i in zipfile.ZipFile(io.BytesIO(XLSX)).infolist()]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_xlsx_with_damaged_xml_inside_a_valid_zip(tmp_path, data) -> None:
    k = data.draw(st.integers(0, len(_MEMBERS) - 1))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for j, (info, body) in enumerate(_MEMBERS):
            if j == k:
                how = data.draw(st.sampled_from(["drop", "cut", "insert"]))
                if how == "drop":
                    continue
                at = data.draw(st.integers(0, len(body)))
                junk = data.draw(st.sampled_from([b"<x>", b"</", b"\x00", b'r="ZZZ99999999"',
                                                  b'<dimension ref="A1:XFD1048576"/>']))
                body = body[:at] if how == "cut" else body[:at] + junk + body[at:]
            target.writestr(info, body)
    path = tmp_path / "inner.xlsx"
    path.write_bytes(out.getvalue())
    try:
        table = read_table(path)
    except ImportFileError as exc:
        assert str(exc).startswith("inner.xlsx")
    else:
        assert all(len(r) == len(table.headers) for r in table.rows)


def test_xlsx_without_worksheets(tmp_path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info, body in _MEMBERS:
            if info.filename == "xl/workbook.xml":
                start, end = body.index(b"<sheets>"), body.index(b"</sheets>") + len(b"</sheets>")
                body = body[:start] + b"<sheets/>" + body[end:]
            target.writestr(info, body)
    path = tmp_path / "empty.xlsx"
    path.write_bytes(out.getvalue())
    with pytest.raises(ImportFileError, match="empty.xlsx"):
        read_table(path)
