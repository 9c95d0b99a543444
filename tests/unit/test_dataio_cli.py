"""`fieldcrm import` / `fieldcrm export` end to end on real files."""

from __future__ import annotations

import json

from fieldcrm.cli import main

CSV = """Företagsnamn;Ort;Telefon;Omsättning
Åkes Bageri AB;Umeå;090-12 34 56;1 000
;Lund;;
Köttboden;Göteborg;031-12 34 56;
"""


def test_import_dry_run_import_rejects_preset_and_export(tmp_path, capsys) -> None:
    source = tmp_path / "kunder.csv"
    source.write_bytes(CSV.encode("cp1252"))
    db = tmp_path / "crm.db"
    assert main(["import", str(source), "--dry-run", "--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert "3 rows (cp1252, delimiter ';')" in out and "'Ort' -> city" in out
    assert "row 3, column 'Företagsnamn': Name is empty" in out and not db.exists()
    assert "row 2: name='Åkes Bageri AB', city='Umeå', phone='+4690123456'" in out
    preset = tmp_path / "preset.json"
    rejects = tmp_path / "rejects.csv"
    code = main(["--db", str(db), "import", str(source), "--map", "Omsättning=notes",
                 "--save-preset", str(preset), "--rejects", str(rejects)])
    assert code == 1
    out = capsys.readouterr().out
    assert "2 created, 0 updated; 2 placed at their town" in out and "1 rejected" in out
    assert json.loads(preset.read_text("utf-8"))["columns"]["Omsättning"] == "notes"
    assert "Name is empty" in rejects.read_text("utf-8-sig")
    assert main(["export", str(tmp_path / "out.geojson"), "--db", str(db)]) == 0
    features = json.loads((tmp_path / "out.geojson").read_text("utf-8"))["features"]
    assert sorted(f["properties"]["name"] for f in features) == ["Köttboden", "Åkes Bageri AB"]
    assert {f["properties"]["notes"] for f in features} == {"1 000", ""}


def test_cli_errors_are_messages_not_tracebacks(tmp_path, capsys) -> None:
    assert main(["import", str(tmp_path / "missing.csv"), "--dry-run"]) == 2
    assert "missing.csv: cannot be opened" in capsys.readouterr().err
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["import", str(bad), "--dry-run"]) == 2
    assert "Map a column to Name" in capsys.readouterr().err
    assert main(["import", str(bad), "--dry-run", "--map", "zz=name"]) == 2
    assert "no column 'zz'" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "out.pdf"), "--db", str(tmp_path / "d.db")]) == 2
    assert "Cannot tell the format" in capsys.readouterr().err
