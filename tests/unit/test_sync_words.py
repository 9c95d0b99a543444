"""How the Sync tab words local changes and refusals, and how its CSV exports are written."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from fieldcrm.errors import FieldCrmError
from fieldcrm.services.sync_status import describe_change, export_csv


def test_a_logged_visit_reads_as_the_rep_logged_it() -> None:
    fields = {"account_id": "x", "checked_in_at": "2026-12-06T09:00:00Z", "outcome": "order",
              "notes": "Met the  owner;\norder taken", "rep_id": None, "status": "completed"}
    assert describe_change("append", fields) == "logged · order · “Met the owner; order taken”"
    long = {"status": "completed", "notes": "x" * 100}
    assert describe_change("append", long) == f"logged · “{'x' * 57}…”"
    assert describe_change("append", {"status": "planned"}) == "planned visit"
    assert describe_change("patch", {"phone": "+46", "phone_raw": "08"}) == "changed phone"
    assert describe_change("create", {"name": "A"}) == "new"


def test_export_escapes_formulas_and_never_leaves_half_a_file(tmp_path: Path) -> None:
    out = tmp_path / "outbox.csv"
    assert export_csv(out, ["Name", "Change"], [["=HYPERLINK(\"x\")", "@SUM(A1)"],
                                                ["Bygg AB", "-5"]]) == 2
    rows = list(csv.reader(out.open(encoding="utf-8-sig")))
    assert rows == [["Name", "Change"], ["'=HYPERLINK(\"x\")", "'@SUM(A1)"],
                    ["Bygg AB", "'-5"]]
    missing = tmp_path / "no such folder" / "x.csv"
    with pytest.raises(FieldCrmError, match="Cannot write"):
        export_csv(missing, ["a"], [["b"]])
    assert list(tmp_path.iterdir()) == [out]
