"""Territories panel on a real demo database: list, draw, repair, import review, reps, moves, balance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import box, mapping, shape
from sqlalchemy import text

from fieldcrm.domain.enums import Role
from fieldcrm.services import territories as T
from fieldcrm.services.balance import accounts_outside, territory_summaries
from fieldcrm.ui.app import stop_runner
from fieldcrm.ui.panels.territories_panel import TerritoriesPanel
from fieldcrm.ui.panels.territory_import_dialog import ImportPreviewDialog
from fieldcrm.ui.tasks import TaskRunner

WAIT = 10_000


@pytest.fixture
def db(demo_db: Any) -> Any:
    """The shared 200-account demo (a private copy) instead of the empty database."""
    return demo_db


@pytest.fixture
def runner(db: Any) -> Any:
    r = TaskRunner(db)
    yield r
    stop_runner(r)


@pytest.fixture
def panel(qtbot: Any, runner: Any, tmp_path: Path) -> TerritoriesPanel:
    p = TerritoriesPanel(runner, with_map=False, out_root=tmp_path / "map")
    qtbot.addWidget(p)
    qtbot.waitUntil(lambda: p.model.rowCount() > 0, timeout=WAIT)
    return p


def _names(panel: TerritoriesPanel) -> list[str]:
    return [t.name for t in panel.model.rows()]


def _released_territory(db: Any) -> tuple[str, dict, int]:
    """Delete the demo territory with the most accounts; return its name, shape, accounts."""
    with db.session() as s:
        t = max(territory_summaries(session=s), key=lambda t: t.accounts)
        geo = json.loads(s.execute(text("SELECT geojson FROM territory WHERE id = :i"),
                                   {"i": t.id}).scalar_one())
        T.delete_territory(session=s, territory_id=t.id, actor_role=Role.MANAGER)
        return t.name, geo, len(accounts_outside(session=s))


def test_list_shows_every_territory_with_rep_and_accounts(panel: TerritoriesPanel, db: Any) -> None:
    with db.session() as s:
        expected = territory_summaries(session=s)
    assert _names(panel) == [t.name for t in expected]
    assert sum(t.accounts for t in panel.model.rows()) == sum(t.accounts for t in expected)
    assert panel.model.data(panel.model.index(0, 1)) == (expected[0].rep_name or "(no rep)")
    assert not panel.buttons["delete"].isEnabled()  # nothing selected yet
    panel.select_territory(expected[0].id)
    assert panel.buttons["delete"].isEnabled() and panel.rep.isEnabled()


def test_drawn_polygon_becomes_a_territory_and_takes_the_released_accounts(
    qtbot: Any, runner: Any, db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, geo, outside = _released_territory(db)
    assert outside > 0
    p = TerritoriesPanel(runner, with_map=False, out_root=tmp_path / "map")
    qtbot.addWidget(p)
    qtbot.waitUntil(lambda: p.outside.count() == outside, timeout=WAIT)
    assert f"({outside})" in p.tabs.tabText(p.tabs.indexOf(p.outside))
    monkeypatch.setattr(p, "ask_text", lambda *a: "Drawn again")
    p.on_polygon_drawn(json.dumps(mapping(shape(geo).envelope)))
    qtbot.waitUntil(lambda: "Drawn again" in _names(p), timeout=WAIT)
    row = p.model.rows()[_names(p).index("Drawn again")]
    assert row.accounts >= outside  # everything the old territory released, and maybe more
    qtbot.waitUntil(lambda: p.outside.count() == 0, timeout=WAIT)
    assert p.selected_id() == row.id
    assert "saved" in p.status.text()


def test_self_intersecting_drawing_asks_before_repair_and_can_be_refused(
    qtbot: Any, panel: TerritoriesPanel, monkeypatch: pytest.MonkeyPatch
) -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[14, 56], [15, 57], [15, 56], [14, 57], [14, 56]]]}
    asked: list[str] = []
    monkeypatch.setattr(panel, "confirm", lambda title, text: asked.append(text) or False)
    before = _names(panel)
    panel.on_polygon_drawn(json.dumps(bowtie))
    qtbot.waitUntil(lambda: bool(asked), timeout=WAIT)
    assert "Self-intersection" in asked[0] or "self-intersection" in asked[0].lower()
    assert "Area before" in asked[0] and "km²" in asked[0]
    qtbot.waitUntil(lambda: panel.status.text() == "Nothing was saved.", timeout=WAIT)
    assert _names(panel) == before
    # Accepting the repair saves the repaired (valid) shape.
    monkeypatch.setattr(panel, "confirm", lambda title, text: True)
    monkeypatch.setattr(panel, "ask_text", lambda *a: "Bow tie")
    panel.on_polygon_drawn(json.dumps(bowtie))
    qtbot.waitUntil(lambda: "Bow tie" in _names(panel), timeout=WAIT)


def _write_geojson(path: Path, features: list[dict]) -> str:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return str(path)


def _feature(name: str, coords: list) -> dict:
    return {"type": "Feature", "properties": {"name": name},
            "geometry": {"type": "Polygon", "coordinates": [coords]}}


def _run_import(panel: TerritoriesPanel, qtbot: Any, monkeypatch: pytest.MonkeyPatch,
                path: str, accept: bool) -> ImportPreviewDialog:
    seen: list[ImportPreviewDialog] = []

    def run(dialog: ImportPreviewDialog) -> bool:
        seen.append(dialog)
        return accept and dialog.accept_button.isEnabled()

    monkeypatch.setattr(panel, "ask_open_path", lambda: path)
    monkeypatch.setattr(panel, "run_dialog", run)
    panel.buttons["import"].click()
    qtbot.waitUntil(lambda: bool(seen), timeout=WAIT)
    return seen[0]


def _tree_text(dialog: ImportPreviewDialog) -> str:
    out = []
    for i in range(dialog.tree.topLevelItemCount()):
        item = dialog.tree.topLevelItem(i)
        out.append(f"{item.text(0)} {item.text(1)}")
        out += [f"{item.child(k).text(0)} {item.child(k).text(1)}" for k in range(item.childCount())]
    return "\n".join(out)


def test_broken_import_names_the_feature_and_changes_nothing(
    qtbot: Any, panel: TerritoriesPanel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _write_geojson(tmp_path / "bad.geojson", [
        _feature("Fine", [[14, 56], [15, 56], [15, 57], [14, 56]]),
        _feature("Two points", [[14, 56], [15, 56], [14, 56]]),
    ])
    before = _names(panel)
    dialog = _run_import(panel, qtbot, monkeypatch, path, accept=True)
    assert not dialog.accept_button.isEnabled()
    assert "cannot be imported" in dialog.headline.text()
    assert "'Two points'" in _tree_text(dialog) or "Two points" in _tree_text(dialog)
    qtbot.waitUntil(lambda: "nothing changed" in panel.status.text(), timeout=WAIT)
    assert _names(panel) == before


def test_import_review_shows_repairs_and_overlaps_then_imports_on_accept(
    qtbot: Any, panel: TerritoriesPanel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _write_geojson(tmp_path / "new.geojson", [
        _feature("West box", mapping(box(11.0, 55.0, 16.0, 60.0))["coordinates"][0]),
        _feature("Overlapping", mapping(box(15.0, 55.0, 19.0, 60.0))["coordinates"][0]),
        _feature("Bow", [[20, 60], [21, 61], [21, 60], [20, 61], [20, 60]]),
    ])
    dialog = _run_import(panel, qtbot, monkeypatch, path, accept=False)
    text = _tree_text(dialog)
    assert "Overlap Feature #1 'West box' and Feature #2 'Overlapping': " in text
    assert "km²" in text and "accounts" in text
    assert "before" in text and "after" in text  # the repair's area before/after
    assert dialog.accept_button.text() == "Accept and repair"
    assert "Nothing changes until you click Accept" in dialog.headline.text()
    assert _names(panel).count("West box") == 0
    _run_import(panel, qtbot, monkeypatch, path, accept=True)
    qtbot.waitUntil(lambda: {"West box", "Overlapping", "Bow"} <= set(_names(panel)), timeout=WAIT)


def test_assign_rep_and_move_picked_accounts(qtbot: Any, panel: TerritoriesPanel, db: Any) -> None:
    target = panel.model.rows()[0]
    panel.select_territory(target.id)
    nobody = panel.rep.findData(None)
    panel.rep.setCurrentIndex(nobody)
    panel.rep.activated.emit(nobody)
    qtbot.waitUntil(lambda: panel.model.rows()[0].rep_name == "", timeout=WAIT)
    with db.session() as s:
        ids = list(s.execute(text("SELECT id FROM account WHERE territory_id != :t LIMIT 3"),
                             {"t": target.id}).scalars())
    assert not panel.move_bar.move.isEnabled()
    panel.on_map_selection(ids)
    assert panel.move_bar.label.text() == "3 accounts picked on the map."
    panel.move_bar.target.setCurrentIndex(panel.move_bar.target.findData(target.id))
    panel.move_bar.move.click()
    qtbot.waitUntil(lambda: panel.model.rows()[0].accounts == target.accounts + 3, timeout=WAIT)
    assert not panel.move_bar.move.isEnabled()


def test_balance_lists_every_territory_and_applies_the_ticked_moves(
    qtbot: Any, panel: TerritoriesPanel, db: Any
) -> None:
    view = panel.balance
    qtbot.waitUntil(lambda: view.model.rowCount() == panel.model.rowCount(), timeout=WAIT)
    text_ = view.model.data(view.model.index(0, 7))
    assert " h  (" in text_ and "%" in text_
    assert "average" in view.summary.text()
    moves = view.ticked_moves()
    if not moves:
        pytest.skip("this demo is balanced enough that no move is suggested")
    for r in range(1, view.moves.rowCount()):
        view.moves.item(r, 0).setCheckState(view.moves.item(r, 0).checkState().Unchecked)
    account, target = view.ticked_moves()[0]
    with qtbot.waitSignal(view.sig_loaded, timeout=WAIT):
        view.apply.click()
    with db.session() as s:
        now = s.execute(text("SELECT territory_id FROM account WHERE id = :a"),
                        {"a": account}).scalar_one()
    assert now == target
