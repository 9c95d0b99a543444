"""Territory services on a real SQLite file: import with accept step, edits, reps, moves."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import box, mapping
from sqlalchemy import func, select

from fieldcrm.db.models import AccountRecord, OutboxRecord, TerritoryRow, UserRow
from fieldcrm.domain.enums import Role
from fieldcrm.errors import InvalidInput, NotFound
from fieldcrm.services import territories as T

# Accounts around Göteborg (west) and Jönköping (east).
ACCOUNTS = {"w1": (11.9, 57.7), "w2": (12.1, 57.8), "e1": (14.2, 57.8), "e2": (13.3, 57.55)}
WEST, EAST = box(11.5, 57.5, 13.0, 58.0), box(13.0, 57.5, 14.5, 58.0)


@pytest.fixture
def s(db):
    with db.session() as session:
        session.add(UserRow(id="u-anna", name="Anna", role="rep"))
        for aid, (lon, lat) in ACCOUNTS.items():
            session.add(AccountRecord(id=aid, name=aid.upper(), lon=lon, lat=lat))
        session.add(AccountRecord(id="nopos", name="No position"))
        session.commit()
        yield session


def _territory_of(s) -> dict[str, str | None]:
    rows = s.execute(select(AccountRecord.id, AccountRecord.territory_id)).all()
    return {r[0]: r[1] for r in rows}


def _outbox(s) -> list[tuple[str, str, dict]]:
    rows = s.scalars(select(OutboxRecord).order_by(OutboxRecord.client_seq))
    return [(r.entity, r.op, json.loads(r.fields_json)) for r in rows]


def _file(tmp_path, *items, name="t.geojson"):
    feats = [
        {"type": "Feature", "properties": {"name": n, **extra}, "geometry": mapping(g)}
        for n, g, extra in items
    ]
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def test_import_needs_the_repair_accepted_then_assigns_accounts(s, tmp_path):
    bowtie = {"type": "Polygon", "coordinates": [[[13, 57.5], [14.5, 58], [14.5, 57.5], [13, 58], [13, 57.5]]]}
    path = tmp_path / "t.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "West", "color": "#112233"}, "geometry": mapping(WEST)},
        {"type": "Feature", "properties": {"name": "East"}, "geometry": bowtie},
    ]}))  # fmt: skip
    preview = T.preview_import(session=s, path=path)
    assert preview.can_import and [r.name for r in preview.repairs] == ["East"]
    assert preview.coverage is not None
    with pytest.raises(InvalidInput, match="not accepted"):
        T.import_territories(session=s, preview=preview, accepted=set())
    assert s.scalar(select(func.count()).select_from(TerritoryRow)) == 0 and _outbox(s) == []

    outcome = T.import_territories(session=s, preview=preview, accepted={1})
    assert [t.name for t in outcome.created] == ["West", "East"]
    assert outcome.created[0].color == "#112233"
    west, east = (t.id for t in outcome.created)
    got = _territory_of(s)
    # The repaired bow tie keeps two triangles: e1 (14.2, 57.8) is in one, e2 (13.3, 57.55)
    # lies in the wedge between them.
    assert got == {"w1": west, "w2": west, "e1": east, "e2": None, "nopos": None}
    entities = [(e, op) for e, op, _ in _outbox(s)]
    assert entities.count(("territory", "create")) == 2 and entities.count(("account", "patch")) == 3


def test_reimporting_our_export_updates_instead_of_duplicating(s, tmp_path):
    west = T.create_territory(session=s, name="West", geojson=mapping(WEST))
    out = tmp_path / "all.kml"
    assert T.export_territories(session=s, path=out) == 1
    text = out.read_text().replace("<name>West</name>", "<name>West coast</name>", 1)
    out.write_text(text)
    outcome = T.import_territories(session=s, preview=T.preview_import(session=s, path=out))
    assert outcome.created == () and [t.id for t in outcome.updated] == [west.id]
    assert s.get(TerritoryRow, west.id).name == "West coast"


def test_projected_file_is_refused_naming_the_feature(s, tmp_path):
    path = _file(tmp_path, ("Metric", box(300_000, 6_390_000, 400_000, 6_420_000), {}))
    preview = T.preview_import(session=s, path=path)
    assert "feature #1 'Metric'" in preview.errors[0]
    with pytest.raises(InvalidInput, match="Metric"):
        T.import_territories(session=s, preview=preview)
    assert s.scalar(select(func.count()).select_from(TerritoryRow)) == 0


def test_create_edit_rename_and_a_manual_move_survives(s):
    west = T.create_territory(session=s, name="West", geojson=mapping(WEST))
    east = T.create_territory(session=s, name="East", geojson=mapping(EAST))
    assert _territory_of(s)["e1"] == east.id
    T.move_accounts(session=s, account_ids=["e2"], territory_id=west.id)  # lasso move
    T.update_territory(session=s, territory_id=east.id, name=" East 2 ", color="#000000")
    assert _outbox(s)[-1] == ("territory", "patch", {"name": "East 2", "color": "#000000"})
    # Shrinking West leaves w2 (12.1) uncovered; e2 (moved by hand) keeps West.
    T.update_territory(session=s, territory_id=west.id, geojson=mapping(box(11.5, 57.5, 12.0, 58)))
    got = _territory_of(s)
    assert (got["w1"], got["w2"], got["e2"], got["e1"]) == (west.id, None, west.id, east.id)
    assert T.reassign_all(session=s) == 1 and _territory_of(s)["e2"] == east.id


def test_drawn_shape_problems_are_explained(s):
    with pytest.raises(InvalidInput, match="Name is required"):
        T.create_territory(session=s, name=" ", geojson=mapping(WEST))
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    report = T.check_territory_geometry(session=s, geojson=bowtie)
    assert report.needs_acceptance and report.problems[0].code == "self_intersection"
    with pytest.raises(InvalidInput, match="needs a repair"):
        T.create_territory(session=s, name="Bow", geojson=bowtie)
    assert T.create_territory(session=s, name="Bow", geojson=bowtie, accept_repair=True).name
    with pytest.raises(InvalidInput, match="2 distinct point"):
        T.check_territory_geometry(session=s, geojson={"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]})
    swapped = {"type": "Polygon", "coordinates": [[[57.5, 11.5], [57.5, 13], [58, 13], [58, 11.5], [57.5, 11.5]]]}
    assert T.check_territory_geometry(session=s, geojson=swapped).problems[0].code == "swapped"


def test_assign_rep_owner_follows_and_delete_releases_accounts(s):
    west = T.create_territory(session=s, name="West", geojson=mapping(WEST))
    t = T.assign_rep(session=s, territory_id=west.id, rep_id="u-anna")
    assert (t.rep_id, t.rep_name) == ("u-anna", "Anna")
    assert s.get(AccountRecord, "w1").owner_id == "u-anna"
    with pytest.raises(NotFound):
        T.assign_rep(session=s, territory_id=west.id, rep_id="nobody")
    with pytest.raises(InvalidInput, match="manager"):
        T.delete_territory(session=s, territory_id=west.id, actor_role=Role.REP)
    assert T.delete_territory(session=s, territory_id=west.id, actor_role=Role.MANAGER) == 2
    assert _territory_of(s)["w1"] is None
    with pytest.raises(NotFound):
        T.move_accounts(session=s, account_ids=["w1"], territory_id=west.id)
    with pytest.raises(NotFound):
        T.move_accounts(session=s, account_ids=["ghost"], territory_id=None)

