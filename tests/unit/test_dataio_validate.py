"""Row validation: locale numbers and dates, phones, emails, required fields, rejected rows."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime

import pytest

from fieldcrm.dataio import parse
from fieldcrm.dataio.mapping import as_mapping, suggest_mapping
from fieldcrm.dataio.parse import BadValue
from fieldcrm.dataio.readers import Table, read_csv_bytes
from fieldcrm.dataio.validate import Options, check_required, validate_rows
from fieldcrm.dataio.writers import write_rejects
from fieldcrm.domain.enums import AccountStatus, Tier, VisitStatus
from fieldcrm.errors import Cancelled, InvalidInput


def _table(text: str) -> Table:
    return read_csv_bytes(text.encode("utf-8"))


def _run(text: str, entity: str = "accounts", **options):
    table = _table(text)
    mapping = as_mapping(suggest_mapping(table.headers, entity))
    return table, validate_rows(table, entity, mapping, options=Options(**options))


@pytest.mark.parametrize(
    ("text", "mark", "expected"),
    [
        ("1 234,50", ",", "1234.50"), ("1.234,50", ",", "1234.50"), ("12,5", ",", "12.5"),
        ("1,234.50", ".", "1234.50"), ("12.5", ".", "12.5"), ("-3", ".", "-3"),
        ("SEK 1 000", ".", "1000"), ("€12,99", ",", "12.99"), ("1\u00a0000 kr", ",", "1000"),
        ("1'000.5", ".", "1000.5"),
    ],
)
def test_parse_decimal(text: str, mark: str, expected: str) -> None:
    assert str(parse.parse_decimal(text, mark)) == expected


@pytest.mark.parametrize(("text", "mark"), [("1,23", "."), ("1.2.3", ","), ("abc", "."), ("", ",")])
def test_parse_decimal_rejects(text: str, mark: str) -> None:
    with pytest.raises(BadValue):
        parse.parse_decimal(text, mark)


@pytest.mark.parametrize(
    ("values", "hint", "expected"),
    [
        (["12,5", "3"], "", ","), (["1.234,5"], "", ","), (["1,234.5"], "", "."),
        (["1.234.567"], "", ","), (["12.25", "1,000"], "", "."), (["1,000"], ",", ","),
        (["1,000"], "", "."), (["5"], ",", ","),
    ],
)
def test_detect_decimal(values: list[str], hint: str, expected: str) -> None:
    assert parse.detect_decimal(values, hint) == expected


@pytest.mark.parametrize(
    ("values", "country", "expected"),
    [
        (["2024-03-05", "2024-12-31"], "SE", "YMD"), (["05.03.2024", "31.12.2024"], "SK", "DMY"),
        (["03/05/2024", "12/31/2024"], "SE", "MDY"), (["03/05/2024"], "US", "MDY"),
        (["03/05/2024"], "SE", "DMY"), (["03.05.2024"], "US", "DMY"), (["2024年3月5日"], "CN", "YMD"),
    ],
)
def test_detect_date_order(values: list[str], country: str, expected: str) -> None:
    assert parse.detect_date_order(values, country) == expected


def test_parse_dates_and_times() -> None:
    assert parse.parse_date("05.03.2024", "DMY") == date(2024, 3, 5)
    assert parse.parse_date("3/5/24", "MDY") == date(2024, 3, 5)
    assert parse.parse_date("2024年3月5日", "DMY") == date(2024, 3, 5)
    for text in ("5 Mar 2024", "March 5, 2024", "Mar 5th, 2024", "5. marca 2024", "5 mars 2024"):
        assert parse.parse_date(text, "MDY") == date(2024, 3, 5)
    assert parse.parse_datetime("5 Mar 2024 14:30 Z", "DMY")[0] == datetime(2024, 3, 5, 14, 30, tzinfo=UTC)
    with pytest.raises(BadValue, match="is not a date"):
        parse.parse_date("5 Foo 2024", "DMY")
    moment, timed = parse.parse_datetime("2024-03-05T14:30:00Z", "YMD")
    assert moment == datetime(2024, 3, 5, 14, 30, tzinfo=UTC) and timed
    moment, _ = parse.parse_datetime("03/05/2024 2:30 PM +01:00", "MDY")
    assert moment == datetime(2024, 3, 5, 13, 30, tzinfo=UTC)
    with pytest.raises(BadValue, match="not a valid date"):
        parse.parse_date("31.02.2024", "DMY")


def test_countries_currencies_and_words() -> None:
    assert [parse.parse_country(c) for c in ("Sverige", "SK", "SVK", "中國", "Germany")] == [
        "SE", "SK", "SK", "CN", "DE"]
    assert parse.parse_currency("eur") == "EUR" and parse.parse_currency("¥") == "CNY"
    with pytest.raises(BadValue, match="kr"):
        parse.parse_currency("kr")
    assert parse.parse_status("Customer - Direct") is AccountStatus.CUSTOMER
    assert parse.parse_status("Tidigare kund") is AccountStatus.FORMER
    assert parse.parse_tier("Hot") is Tier.A and parse.parse_tier("zzz") is None
    assert parse.parse_visit_status("Genomförd") is VisitStatus.COMPLETED


SWEDISH_ACCOUNTS = """Företagsnamn;Ort;Land;Telefon;E-post;Latitud;Longitud;Klass;Status
Åkes Bageri AB;Umeå;Sverige;090-12 34 56;Ake@Bageri.se;63,8258;20,2630;A;Kund
Köttboden;Göteborg;;031 12 34 56;bad@;;;X;
;Nowhere;;;;;;;
Foo;Lund;Atlantis;;;95,0;10,0;;
Bratislava s.r.o.;Bratislava;Slovensko;02/5443 5678;;48,1486;17,1077;;
Halv;Lund;;;;55,7;;;
Skräp;Lund;;12;;;;;
"""


def test_accounts_rows_valid_invalid_and_flagged() -> None:
    table, result = _run(SWEDISH_ACCOUNTS)
    assert result.formats == {"lat": ",", "lon": ","}
    by_name = {r["name"]: r for r in result.records}
    ake = by_name["Åkes Bageri AB"]
    assert (ake["phone"], ake["phone_valid"], ake["email"]) == ("+4690123456", True, "Ake@bageri.se")
    assert (ake["lat"], ake["lon"], ake["tier"], ake["status"]) == (63.8258, 20.263, Tier.A, AccountStatus.CUSTOMER)
    assert by_name["Köttboden"]["email_valid"] is False and by_name["Köttboden"]["tier"] is Tier.C
    assert by_name["Köttboden"]["country"] == "SE"
    # the Slovak row's phone is read in its own country, not the default one
    assert by_name["Bratislava s.r.o."]["phone"] == "+421254435678"
    assert by_name["Skräp"]["phone_valid"] is False and by_name["Skräp"]["phone"] == "12"
    errors = {(i.row, i.column, i.message) for i in result.issues if i.severity == "error"}
    assert errors == {
        (4, "Företagsnamn", "Name is empty"),
        (5, "Land", "unknown country 'Atlantis'"),
        (5, "Latitud", "'95,0' is outside -90…90"),
        (7, "", "give both latitude and longitude, or neither"),
    }
    assert [table.row_numbers[i] for i in result.rejected] == [4, 5, 7]
    warnings = {(i.row, i.field) for i in result.issues if i.severity == "warning"}
    assert warnings == {(3, "email"), (3, "tier"), (8, "phone")}


def test_rejected_rows_export_for_fixing_and_reimport(tmp_path) -> None:
    table, result = _run(SWEDISH_ACCOUNTS)
    out = tmp_path / "rejects.csv"
    assert write_rejects(out, table, result.rejected, result.issues) == 3
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][-1] == "import errors" and rows[0][:-1] == list(table.headers)
    assert rows[2][0] == "Foo" and "Land: unknown country 'Atlantis'" in rows[2][-1]
    fixed = read_csv_bytes(out.read_bytes())
    assert fixed.rows[1][:3] == ("Foo", "Lund", "Atlantis")


def test_sales_with_money_dates_and_currency() -> None:
    text = "Kund,Datum,Belopp,Valuta\nAcme,05.03.2024,\"1 234,50\",EUR\nBeta,31.12.2024,99,\nGamma,2024-99-99,1,SEK\n"
    table, result = _run(text, "sales", default_currency="SEK")
    assert result.formats == {"sold_on": "DMY", "amount": ","}
    assert [(r["account_ref"], r["sold_on"], r["amount"], r["currency"]) for r in result.records] == [
        ("Acme", date(2024, 3, 5), 123450, "EUR"), ("Beta", date(2024, 12, 31), 9900, "SEK")]
    assert [str(i) for i in result.issues] == ["row 4, column 'Datum': '2024-99-99' is not a valid date (month must be in 1..12)"]


def test_contacts_name_from_first_and_last() -> None:
    text = "Account Name,First Name,Last Name,Email\nAcme,Anna,Berg,anna@acme.se\nAcme,,,x@acme.se\n"
    _, result = _run(text, "contacts")
    assert result.records[0]["name"] == "Anna Berg"
    assert [i.message for i in result.issues] == ["Name is empty"]


def test_visits_need_a_date_and_times_become_utc() -> None:
    text = "Company,Date,Status,Duration\nAcme,2024-03-05 14:30,done,45\nBeta,,planned,x\n"
    _, result = _run(text, "visits")
    record = result.records[0]
    assert record["checked_in_at"].tzinfo is not None and record["status"] is VisitStatus.COMPLETED
    messages = sorted(i.message for i in result.issues)
    assert messages == ["'x' is not a number (decimal mark '.')", "a visit needs a planned or a visited date"]


def test_required_fields_must_be_mapped_and_preview_limit() -> None:
    with pytest.raises(InvalidInput, match="Map a column to Name"):
        check_required("accounts", {0: "city"})
    check_required("contacts", {0: "account_ref", 1: "first_name"})
    table = _table("name\n" + "".join(f"n{i}\n" for i in range(50)))
    preview = validate_rows(table, "accounts", {0: "name"}, limit=10)
    assert preview.total == 10 and len(preview.records) == 10


def test_text_too_long_and_cancel() -> None:
    table = _table("name,notes\n" + "x" * 301 + "," + "y" * 1000 + "\n")
    result = validate_rows(table, "accounts", {0: "name", 1: "notes"})
    assert [i.message for i in result.issues] == ["longer than 300 characters"]
    with pytest.raises(Cancelled):
        validate_rows(table, "accounts", {0: "name"}, cancelled=lambda: True)


def test_email_fast_path_agrees_with_email_validator() -> None:
    from email_validator import EmailNotValidError, validate_email
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from fieldcrm.dataio.validate import _email

    local = st.text(alphabet="abcXYZ09._+-'", min_size=1, max_size=10)
    domain = st.lists(st.text(alphabet="abcXY09-", min_size=1, max_size=8) | st.sampled_from(
        ["local", "localhost", "test", "ab--c", "xn--p1ai", "example", "arpa"]), min_size=1, max_size=3)
    tld = st.sampled_from(["se", "SK", "com", "c", "xn--p1ai", "museum", "local", "test", "onion",
                           "invalid", "123"])

    @settings(max_examples=500, deadline=None)
    @given(local, domain, tld)
    def check(user: str, labels: list[str], top: str) -> None:
        address = f"{user}@{'.'.join(labels)}.{top}"
        _email.cache_clear()
        try:
            expected = (validate_email(address, check_deliverability=False).normalized, True)
        except EmailNotValidError:
            expected = (address, False)
        assert _email(address) == expected

    check()
