"""CSV/XLSX reading: encodings, delimiters, headers, broken files."""

from __future__ import annotations

import codecs

import openpyxl
import pytest

from fieldcrm.dataio.readers import MAX_COLUMNS, read_csv_bytes, read_table, read_xlsx, sheet_names
from fieldcrm.errors import Cancelled, ImportFileError

SWEDISH = "Företagsnamn;Ort;Telefon\nÅkes Bageri AB;Umeå;090-123 45\nKöttboden i Göteborg;Göteborg;031-12 34 56\n"
SLOVAK = "Názov firmy;Mesto;Poznámka\nĽudová ťavička s.r.o.;Košice;žltý kôň\n"
CHINESE_SIMPLIFIED = "公司名称,城市,电话\n北京科技有限公司,北京,010-12345678\n上海贸易有限公司,上海,021-1234\n"
CHINESE_TRADITIONAL = "公司名稱,城市,電話\n台北科技有限公司,台北,02-12345678\n高雄貿易有限公司,高雄,07-1234\n"


@pytest.mark.parametrize(
    ("text", "encoding", "expected"),
    [
        (SWEDISH, "utf-8", "utf-8"),
        (SWEDISH, "utf-8-sig", "utf-8-sig"),
        (SWEDISH, "utf-16", "utf-16"),
        (SWEDISH, "cp1252", "cp1252"),
        (SLOVAK, "cp1250", "cp1250"),
        (CHINESE_SIMPLIFIED, "gb18030", "gb18030"),
        (CHINESE_TRADITIONAL, "big5", "big5"),
        (CHINESE_TRADITIONAL, "utf-8", "utf-8"),
    ],
)
def test_encodings_are_detected_and_text_comes_back_exact(text: str, encoding: str, expected: str) -> None:
    table = read_csv_bytes(text.encode(encoding))
    assert table.encoding == expected
    lines = [line.split(table.delimiter) for line in text.splitlines()]
    assert table.headers == tuple(lines[0])
    assert [list(r) for r in table.rows] == lines[1:]


TAIWAN = ("客戶名稱,地址,電話\n鴻海精密工業股份有限公司,新北市土城區自由街2號,02-22683466\n"
          "聯發科技股份有限公司,新竹科學園區篤行一路1號,03-5670766\n鼎泰豐,臺北市大安區信義路二段194號,02-23218928\n")
MAINLAND = ("客户名称,地址,电话\n华为技术有限公司,深圳市龙岗区坂田华为基地,0755-28780808\n"
            "阿里巴巴集团,杭州市余杭区文一西路969号,0571-85022088\n")


@pytest.mark.parametrize(("text", "encoding"), [(TAIWAN, "big5"), (TAIWAN, "gb18030"),
                                                (MAINLAND, "gb18030"), ("名稱\n鼎泰豐\n", "big5")])
def test_chinese_encodings_with_less_common_characters(text: str, encoding: str) -> None:
    table = read_csv_bytes(text.encode(encoding))
    assert table.encoding == encoding and table.rows[0][0] == text.splitlines()[1].split(",")[0]


def test_utf16_without_bom_is_recognised() -> None:
    table = read_csv_bytes(SWEDISH.encode("utf-16-le"))
    assert table.encoding == "utf-16-le"
    assert table.rows[0][1] == "Umeå"


def test_latin1_windows_file_with_euro_sign() -> None:
    data = "Name,Amount\nCafé Noir,€ 12,50\n".replace(",€ 12,50", ",\"€ 12,50\"").encode("cp1252")
    table = read_csv_bytes(data)
    assert table.encoding == "cp1252"
    assert table.rows == [("Café Noir", "€ 12,50")]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters(delimiter: str) -> None:
    rows = [["name", "city", "amount"], ["A, B & Co", "Umeå", "12,5"], ["C", "Lund", "3,25"]]
    text = "\n".join(
        delimiter.join(f'"{c}"' if delimiter in c or "," in c else c for c in row) for row in rows
    )
    table = read_csv_bytes(text.encode())
    assert table.delimiter == delimiter
    assert [list(r) for r in table.rows] == rows[1:]


def test_explicit_encoding_and_delimiter_override_detection() -> None:
    table = read_csv_bytes(b"a;b\n1;2\n", encoding="latin-1", delimiter=",")
    assert table.headers == ("a;b",)
    assert table.encoding == "latin-1"


def test_title_rows_above_the_header_are_skipped_and_rows_keep_their_numbers() -> None:
    text = "Accounts report 2024\n\nName,City\nAcme,Lund\n\nBeta,Malmö\n"
    table = read_csv_bytes(text.encode())
    assert table.headers == ("Name", "City")
    assert table.rows == [("Acme", "Lund"), ("Beta", "Malmö")]
    assert table.row_numbers == [4, 6]


def test_ragged_rows_are_padded_or_flagged() -> None:
    table = read_csv_bytes(b"a,b,c\n1\n1,2,3,4\n")
    assert table.rows == [("1", "", ""), ("1", "2", "3")]
    assert "4 cells" in table.problems[1]


def test_multiline_quoted_cells_count_as_one_row() -> None:
    table = read_csv_bytes(b'name,notes\nAcme,"line 1\nline 2"\nBeta,x\n')
    assert table.rows[0] == ("Acme", "line 1\nline 2")
    assert table.row_numbers == [2, 3]


def test_unclosed_quote_names_the_row() -> None:
    with pytest.raises(ImportFileError, match=r"row 3 opens a quote"):
        read_csv_bytes(b'name,city\nAcme,Lund\n"Beta,Malm\xc3\xb6\nGamma,Kiruna\n')


def test_sloppy_quotes_are_read_leniently() -> None:
    table = read_csv_bytes(b'name,city\n"Acme" AB,Lund\n')
    assert table.rows == [("Acme AB", "Lund")]


def test_too_many_columns_is_a_clear_error() -> None:
    header = ",".join(f"c{i}" for i in range(MAX_COLUMNS + 5))
    with pytest.raises(ImportFileError, match=r"row 1 has 1,005 columns; fieldcrm reads at most 1,000"):
        read_csv_bytes(f"{header}\n1,2\n".encode())


def test_nul_bytes_flag_the_row() -> None:
    table = read_csv_bytes(b"name,city\nAc\x00me,Lund\nBeta,Lund\n")
    assert "NUL" in table.problems[0] and "'name'" in table.problems[0]
    assert 1 not in table.problems


def test_binary_garbage_is_refused() -> None:
    with pytest.raises(ImportFileError, match="binary"):
        read_csv_bytes(bytes(range(256)) * 50 + b"\x00" * 5000)


def test_empty_file() -> None:
    with pytest.raises(ImportFileError, match="empty"):
        read_csv_bytes(codecs.BOM_UTF8 + b"\n\n")


def test_formula_cells_stay_text_and_export_escapes_are_undone() -> None:
    table = read_csv_bytes(b"name,note\n=cmd|' /C calc'!A0,'=1+2\n")
    assert table.rows == [("=cmd|' /C calc'!A0", "=1+2")]


def test_progress_and_cancel() -> None:
    data = ("name\n" + "".join(f"n{i}\n" for i in range(12_000))).encode()
    seen: list[tuple[int, int]] = []
    read_csv_bytes(data, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1][0] == seen[-1][1] and len(seen) >= 3
    with pytest.raises(Cancelled):
        read_csv_bytes(data, cancelled=lambda: True)


def _workbook(tmp_path, rows, name="book.xlsx"):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Kunder"
    for row in rows:
        sheet.append(row)
    extra = workbook.create_sheet("Other")
    extra.append(["x"])
    path = tmp_path / name
    workbook.save(path)
    return path


def test_xlsx_values_and_formulas_as_text(tmp_path) -> None:
    import datetime as dt

    path = _workbook(tmp_path, [
        ["Företagsnamn", "Antal", "Belopp", "Datum", "Formel"],
        ["Åkes AB", 3, 1234.5, dt.datetime(2024, 3, 5), "=SUM(B2:C2)"],
        ["Evil", None, 46701234567, dt.datetime(2024, 3, 5, 14, 30), "=cmd|' /C calc'!A0"],
    ])
    table = read_table(path)
    assert table.sheet == "Kunder" and table.decimal_hint == "."
    assert table.headers == ("Företagsnamn", "Antal", "Belopp", "Datum", "Formel")
    assert table.rows[0] == ("Åkes AB", "3", "1234.5", "2024-03-05", "=SUM(B2:C2)")
    assert table.rows[1] == ("Evil", "", "46701234567", "2024-03-05 14:30:00", "=cmd|' /C calc'!A0")
    assert table.row_numbers == [2, 3]
    assert sheet_names(path) == ["Kunder", "Other"]
    assert read_xlsx(path, sheet="Other").headers == ("x",)


def test_xlsx_missing_sheet_and_broken_files(tmp_path) -> None:
    path = _workbook(tmp_path, [["a"], ["1"]])
    with pytest.raises(ImportFileError, match="no sheet named 'Nope'"):
        read_xlsx(path, sheet="Nope")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ImportFileError, match="not a readable XLSX"):
        read_table(broken)
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 100)
    with pytest.raises(ImportFileError, match=r"\.xls"):
        read_table(old)
    with pytest.raises(ImportFileError, match="cannot be opened"):
        read_table(tmp_path / "missing.csv")


def test_xlsx_too_wide(tmp_path) -> None:
    path = _workbook(tmp_path, [[f"c{i}" for i in range(MAX_COLUMNS + 1)], [1]])
    with pytest.raises(ImportFileError, match="at most 1,000"):
        read_table(path)
