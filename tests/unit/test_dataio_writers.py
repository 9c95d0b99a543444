"""Exports: CSV/XLSX/GeoJSON, formula escaping, round trips, atomic writes."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime

import openpyxl
import pytest

from fieldcrm.dataio.readers import read_table
from fieldcrm.dataio.writers import cell_text, escape_cell, write_rows
from fieldcrm.domain.enums import Tier
from fieldcrm.errors import Cancelled, FieldCrmError

HEADERS = ["name", "phone", "tier", "tags", "lat", "lon", "amount", "since"]
ROWS = [
    ["=cmd|' /C calc'!A0", "+46701234567", Tier.A, ("vip", "north"), 59.3293, 18.0686, -12.5,
     date(2024, 3, 5)],
    ["@SUM(1)", "", Tier.C, (), None, None, 3, datetime(2024, 3, 5, 14, 30, tzinfo=UTC)],
    ["Åkes Bageri AB", "-", Tier.B, ("x",), 63.8, 20.2, 0, None],
]


def test_escape_cell() -> None:
    assert [escape_cell(s) for s in ("=1", "+1", "-1", "@a", "\tx", "ok", "")] == [
        "'=1", "'+1", "'-1", "'@a", "'\tx", "ok", ""]
    assert cell_text(datetime(2024, 3, 5, 14, 30, tzinfo=UTC)) == "2024-03-05T14:30:00+00:00"


def test_csv_escapes_text_but_not_numbers_and_reads_back(tmp_path) -> None:
    path = tmp_path / "out.csv"
    assert write_rows(path, "csv", HEADERS, ROWS) == 3
    with path.open(encoding="utf-8-sig", newline="") as handle:
        raw = list(csv.reader(handle))
    assert raw[1][:4] == ["'=cmd|' /C calc'!A0", "'+46701234567", "A", "vip, north"]
    assert raw[1][6] == "-12.5"  # a number is not text: no quote
    assert raw[3][1] == "'-"
    table = read_table(path)
    assert table.rows[0][:2] == ("=cmd|' /C calc'!A0", "+46701234567")
    assert table.rows[1][0] == "@SUM(1)"


def test_xlsx_stores_text_never_formulas(tmp_path) -> None:
    path = tmp_path / "out.xlsx"
    write_rows(path, "xlsx", HEADERS, ROWS)
    workbook = openpyxl.load_workbook(path)
    sheet = workbook.active
    assert sheet["A2"].data_type == "s" and sheet["A2"].value == "'=cmd|' /C calc'!A0"
    assert sheet["G2"].value == -12.5 and sheet["E2"].value == 59.3293
    assert read_table(path).rows[0][0] == "=cmd|' /C calc'!A0"


def test_geojson_points(tmp_path) -> None:
    path = tmp_path / "out.geojson"
    assert write_rows(path, "geojson", HEADERS, ROWS) == 2
    document = json.loads(path.read_text("utf-8"))
    first = document["features"][0]
    assert first["geometry"] == {"type": "Point", "coordinates": [18.0686, 59.3293]}
    assert first["properties"]["name"] == "=cmd|' /C calc'!A0" and first["properties"]["tags"] == ["vip", "north"]
    assert document["features"][1]["properties"]["name"] == "Åkes Bageri AB"
    with pytest.raises(FieldCrmError, match="needs 'lat'"):
        write_rows(path, "geojson", ["name"], [["x"]])


def test_failures_leave_no_file(tmp_path) -> None:
    path = tmp_path / "out.csv"
    rows = [["x"]] * 20_000
    with pytest.raises(Cancelled):
        write_rows(path, "csv", ["name"], rows, cancelled=lambda: True)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FieldCrmError, match="Unknown export format"):
        write_rows(path, "pdf", ["name"], rows)
    with pytest.raises(FieldCrmError, match="Cannot write"):
        write_rows(tmp_path / "missing" / "out.csv", "csv", ["name"], rows)
