"""Importing into a real SQLite file: one transaction, outbox rows, geocoding, updates, refs."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from fieldcrm.dataio.readers import read_csv_bytes
from fieldcrm.dataio.validate import Options
from fieldcrm.db.models import AccountRecord, ContactRecord, OutboxRecord, SaleRecord, VisitRecord
from fieldcrm.errors import Cancelled, InvalidInput
from fieldcrm.services.importing import import_table, mapping_for

ACCOUNTS = """Företagsnamn;Gatuadress;Ort;Telefon;E-post;Latitud;Longitud;Kontaktperson
Åkes Bageri AB;Storgatan 1;Umeå;090-12 34 56;ake@bageri.se;;;Åke Berg
Köttboden;;Göteborg;031-12 34 56;;57,70;11,97;
;Nowhere;;;;;;
Okänd Ort AB;;Atlantis;;;;;
"""


def _count(session, model) -> int:
    return int(session.scalar(select(func.count()).select_from(model)))


def _import(db, text: str, entity: str, **kwargs):
    table = read_csv_bytes(text.encode())
    with db.session() as session:
        return import_table(session=session, table=table, entity=entity,
                            mapping=mapping_for(table, entity), **kwargs), table


def test_accounts_import_writes_rows_outbox_and_town_coordinates(db) -> None:
    report, _ = _import(db, ACCOUNTS, "accounts")
    assert (report.created, report.updated, report.rejected) == (3, 0, (2,))
    assert [str(i) for i in report.errors] == ["row 4, column 'Företagsnamn': Name is empty"]
    assert (report.geocoded, report.not_located, report.contacts_created) == (1, 1, 1)
    with db.session() as session:
        accounts = {a.name: a for a in session.scalars(select(AccountRecord))}
        ake = accounts["Åkes Bageri AB"]
        assert ake.geocode_source == "town" and 63.7 < ake.lat < 63.9
        assert ake.phone == "+4690123456" and ake.country == "SE"
        assert accounts["Köttboden"].geocode_source == "manual" and accounts["Köttboden"].lat == 57.7
        assert accounts["Okänd Ort AB"].lat is None
        contact = session.scalars(select(ContactRecord)).one()
        assert (contact.name, contact.account_id) == ("Åke Berg", ake.id)
        outbox = session.scalars(select(OutboxRecord).order_by(OutboxRecord.client_seq)).all()
        assert [(o.entity, o.op) for o in outbox] == [("account", "create")] * 3 + [("contact", "create")]
        fields = json.loads(next(o.fields_json for o in outbox if o.entity_id == ake.id))
        assert fields["name"] == "Åkes Bageri AB" and fields["geocode_source"] == "town"


def test_update_mode_matches_stored_accounts(db) -> None:
    _import(db, ACCOUNTS, "accounts")
    again = ("Name;City;Phone;Website;Kontaktperson\nÅKES BAGERI;Umeå;;www.akes.se;Åke Berg\n"
             "New One;Lund;;;\n")
    report, _ = _import(db, again, "accounts", update_existing=True)
    assert (report.created, report.updated, report.contacts_created) == (1, 1, 0)
    with db.session() as session:
        assert _count(session, AccountRecord) == 4
        ake = session.scalars(select(AccountRecord).where(AccountRecord.city == "Umeå")).one()
        assert ake.website == "www.akes.se" and ake.phone == "+4690123456"  # blanks keep values
        patch = session.scalars(select(OutboxRecord).where(OutboxRecord.op == "patch")).one()
        assert json.loads(patch.fields_json) == {"name": "ÅKES BAGERI", "website": "www.akes.se"}


def test_contacts_visits_and_sales_find_their_accounts(db) -> None:
    _import(db, ACCOUNTS, "accounts")
    contacts = "Account Name,First Name,Last Name,Email\nKöttboden,Eva,Ek,eva@kott.se\nNobody AB,A,B,\n"
    report, _ = _import(db, contacts, "contacts")
    assert report.created == 1 and [i.message for i in report.errors] == ["no account called 'Nobody AB'"]
    visits = "Company;Date;Status;Notes\nÅkes Bageri;2024-03-05 10:00;done;Ordered\nköttboden;2030-01-02 09:00;planned;\n"
    report, _ = _import(db, visits, "visits")
    assert report.created == 2
    sales = "Kund;Datum;Belopp;Valuta\nÅkes Bageri AB;05.03.2024;1 234,50;\n"
    report, _ = _import(db, sales, "sales", options=Options(default_currency="SEK"))
    assert report.created == 1
    with db.session() as session:
        sale = session.scalars(select(SaleRecord)).one()
        assert (sale.amount_minor, sale.currency) == (123450, "SEK")
        done = session.scalars(select(VisitRecord).where(VisitRecord.status == "completed")).one()
        account = session.get(AccountRecord, done.account_id)
        assert account.name == "Åkes Bageri AB" and account.last_visit_at == done.checked_in_at
        ops = {(o.entity, o.op) for o in session.scalars(select(OutboxRecord))}
        assert {("visit", "append"), ("visit", "create"), ("sale", "create")} <= ops


def test_cancel_or_error_leaves_the_database_as_it_was(db) -> None:
    _import(db, ACCOUNTS, "accounts")
    big = "name;city\n" + "".join(f"Firma {i};Umeå\n" for i in range(12_000))
    calls = {"n": 0}

    def cancel_late() -> bool:
        calls["n"] += 1
        return calls["n"] > 12  # after validation, in the middle of writing

    with pytest.raises(Cancelled):
        _import(db, big, "accounts", cancelled=cancel_late)
    with pytest.raises(InvalidInput, match="Map a column to Name"):
        _import(db, "city\nUmeå\n", "accounts")
    with db.session() as session:
        assert _count(session, AccountRecord) == 3 and _count(session, OutboxRecord) == 4


def test_export_round_trip(db, tmp_path) -> None:
    from fieldcrm.dataio.readers import read_table
    from fieldcrm.services.exporting import export_entity

    _import(db, ACCOUNTS + "=cmd|' /C calc'!A0;;Lund;;;;;\n", "accounts")
    _import(db, "Kund;Datum;Belopp\nKöttboden;2024-03-05;12,50\n", "sales")
    with db.session() as session:
        assert export_entity(session=session, entity="accounts", path=tmp_path / "a.csv", fmt="csv") == 4
        assert export_entity(session=session, entity="accounts", path=tmp_path / "a.xlsx", fmt="xlsx") == 4
        assert export_entity(session=session, entity="accounts", path=tmp_path / "a.geojson",
                             fmt="geojson") == 3  # the one in Atlantis has no position
        assert export_entity(session=session, entity="sales", path=tmp_path / "s.csv", fmt="csv") == 1
        with pytest.raises(InvalidInput, match="Unknown export format"):
            export_entity(session=session, entity="accounts", path=tmp_path / "a.pdf", fmt="pdf")
    raw = (tmp_path / "a.csv").read_text("utf-8-sig")
    assert "'=cmd|' /C calc'!A0" in raw
    for name in ("a.csv", "a.xlsx"):
        table = read_table(tmp_path / name)
        assert "=cmd|' /C calc'!A0" in [r[1] for r in table.rows]
    sales = read_table(tmp_path / "s.csv")
    assert sales.headers[:6] == ("id", "account", "account_id", "sold_on", "amount", "currency")
    assert sales.rows[0][1] == "Köttboden" and sales.rows[0][4] == "12.5"
    # The export imports again, as it is, into another database.
    from fieldcrm.db.engine import open_database

    other = open_database(tmp_path / "other.db")
    try:
        report, _ = _import(other, (tmp_path / "a.csv").read_text("utf-8-sig"), "accounts")
        assert report.created == 4 and not report.errors
    finally:
        other.close()


def _triggers(session) -> set[str]:
    from sqlalchemy import text

    return set(session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))


def test_large_import_reindexes_search_once_and_keeps_triggers(db, monkeypatch) -> None:
    import fieldcrm.services.bulk_write as importing

    with db.session() as session:
        before = _triggers(session)
    assert "account_fts_ai" in before
    rows = "name;city\n" + "".join(f"Firma{i};Umeå\n" for i in range(10_500))
    dropped = {"yes": False}
    original = importing.drop_trigger_statements

    def drop() -> list[str]:
        dropped["yes"] = True
        return original()

    monkeypatch.setattr(importing, "drop_trigger_statements", drop)
    with pytest.raises(Cancelled):  # cancelled after the triggers were dropped
        _import(db, rows, "accounts", geocode=False, cancelled=lambda: dropped["yes"])
    with db.session() as session:
        assert _triggers(session) == before and _count(session, AccountRecord) == 0
    report, _ = _import(db, rows, "accounts", geocode=False)
    assert report.created == 10_500
    from sqlalchemy import text

    with db.session() as session:
        assert _triggers(session) == before
        hits = session.scalars(text("SELECT a.name FROM account_fts f JOIN account a ON a.rowid = f.rowid "
                                    "WHERE account_fts MATCH 'Firma10499'")).all()
        assert hits == ["Firma10499"]
        _import(db, "name;city\nLater AB;Lund\n", "accounts")  # the triggers index new rows again
        assert session.scalars(text("SELECT rowid FROM account_fts WHERE account_fts MATCH 'Later'")).all()


def test_new_accounts_that_look_stored_get_a_warning(db) -> None:
    _import(db, ACCOUNTS, "accounts")
    report, _ = _import(db, "Name;City;Phone\nAkes Bageri;Umeå;090-12 34 56\nFresh AB;Umeå;\n", "accounts")
    assert report.created == 2
    warnings = [str(i) for i in report.issues if i.severity == "warning"]
    assert warnings == ["row 2: may be the same as the stored account 'Åkes Bageri AB' "
                        "(names 100% alike, same phone)"]


def test_owner_column_is_recognised_but_not_applied(db) -> None:
    report, _ = _import(db, "Account Name,Account Owner\nAcme,Anna Rep\nBeta,Bo Rep\n", "accounts")
    assert report.created == 2
    assert [str(i) for i in report.issues] == [
        "row 2, column 'Account Owner': owners are not imported: a manager assigns them"]


def test_progress_only_moves_forward(db) -> None:
    seen: list[int] = []
    rows = "name;city\n" + "".join(f"Firma {i};Umeå\n" for i in range(6_000))
    _import(db, rows, "accounts", progress=lambda done, total: seen.append(done * 100 // total))
    assert seen == sorted(seen) and seen[-1] == 100 and len(seen) > 5
