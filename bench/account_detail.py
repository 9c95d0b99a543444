"""Benchmark: account detail and the visit form on a 2,000-account demo (target: a visit in < 1 min).

Times, on a demo database: the account panel's load op (account, contacts, timeline, names,
cadence) and the "accounts within 10 km" op, median over 50 accounts; then, through the real
widgets offscreen, the visit form from open to editable and from Ctrl+Enter to saved, and the
keys a rep presses besides the note text. Peer, side by side: the floor, plain sqlite3 reading
the same rows (account, contacts, visits, sales) with no DTOs. Ends with one JSON line.
``--db PATH`` reuses a demo database (a copy is made: the bench logs visits).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _median_ms(fn, ids: list[str]) -> float:
    times = []
    for account_id in ids:
        start = time.perf_counter()
        fn(account_id)
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def _raw_detail(conn: sqlite3.Connection, account_id: str) -> None:
    conn.execute("SELECT * FROM account WHERE id = ?", (account_id,)).fetchone()
    conn.execute("SELECT * FROM contact WHERE account_id = ? AND deleted = 0", (account_id,)).fetchall()
    conn.execute("SELECT * FROM visit WHERE account_id = ?", (account_id,)).fetchall()
    conn.execute("SELECT * FROM sale WHERE account_id = ? AND deleted = 0", (account_id,)).fetchall()


def _build(path: Path) -> None:
    from fieldcrm.db.engine import open_database
    from fieldcrm.services.demo import build_demo

    db = open_database(path)
    with db.session() as session:
        build_demo(session=session, accounts=2000, seed=7)
    db.close()


def _ops(db, ids: list[str]) -> dict[str, float]:
    from fieldcrm.ui.panels.account_panel import load_account_detail, load_nearby

    def detail(account_id: str) -> None:
        with db.session() as s:
            load_account_detail(s, account_id=account_id)

    def nearby(account_id: str) -> None:
        with db.session() as s:
            load_nearby(s, account_id=account_id, km=10)

    conn = sqlite3.connect(db.path)
    out = {"detail_ms": _median_ms(detail, ids), "nearby_ms": _median_ms(nearby, ids),
           "peer_raw_sqlite_ms": _median_ms(lambda a: _raw_detail(conn, a), ids)}
    conn.close()
    return out


def _form(db, ids: list[str]) -> dict[str, float]:
    from PySide6.QtCore import QEventLoop, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from fieldcrm.ui.panels.visit_form import VisitFormDialog
    from fieldcrm.ui.tasks import TaskRunner

    app = QApplication.instance() or QApplication([])
    runner = TaskRunner(db)
    ready, saved = [], []

    def wait(cond) -> None:
        while not cond():
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)

    for account_id in ids[:10]:
        start = time.perf_counter()
        dialog = VisitFormDialog(runner, account_id)
        dialog.show()
        wait(dialog.is_ready)
        ready.append((time.perf_counter() - start) * 1000)
        QTest.keyClicks(dialog.notes, "Order for spring")
        QTest.keyClick(dialog.notes, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
        done: list[str] = []
        dialog.sig_saved.connect(done.append)
        start = time.perf_counter()
        QTest.keyClick(dialog.notes, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        wait(lambda done=done: bool(done))
        saved.append((time.perf_counter() - start) * 1000)
        dialog.deleteLater()
    runner.shutdown()
    return {"form_ready_ms": round(statistics.median(ready), 1),
            "form_save_ms": round(statistics.median(saved), 1),
            "keys_besides_notes": 2}  # Ctrl+1 (outcome), Ctrl+Enter (save)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, help="a demo database to copy instead of building one")
    args = parser.parse_args()
    from fieldcrm.db.engine import open_database

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        if args.db:
            shutil.copy(args.db, path)
        else:
            _build(path)
        db = open_database(path)
        with db.session() as s:
            from sqlalchemy import text

            ids = list(s.scalars(text("SELECT id FROM account WHERE deleted = 0 "
                                      "AND lat IS NOT NULL ORDER BY id LIMIT 50")))
        figures = _ops(db, ids) | _form(db, ids)
        db.close()
    for key, value in figures.items():
        print(f"{key:22s} {value}")
    print(json.dumps({"bench": "account_detail", **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
