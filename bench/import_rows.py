"""Benchmark: import 100,000 account rows from a CSV (target: <= 30 s, no online geocoding).

File: a Swedish-style export (cp1252, ';', decimal commas, national phone formats, emails,
websites, 40 % with coordinates, 2 % broken rows), N rows.
Ours, in stages: read (encoding/delimiter detection) + map (header synonyms) + validate
(phones to E.164, emails, numbers, enums), then the full import into a new SQLite file
(``fieldcrm.services.importing.import_table``: one transaction, account rows, outbox rows,
gazetteer placement of the rows without coordinates, search index triggers).
Peer, side by side: the stdlib floor — ``csv.reader`` plus ``sqlite3.executemany`` of the raw
text cells into a plain table, with no checking at all.
Run: ``.venv/bin/python bench/import_rows.py [N]``. Ends with one JSON line.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from fieldcrm.dataio.mapping import as_mapping, suggest_mapping
from fieldcrm.dataio.readers import read_table
from fieldcrm.dataio.validate import Options, _email, _phone, validate_rows
from fieldcrm.db.engine import open_database
from fieldcrm.geo import gazetteer
from fieldcrm.services.importing import import_table

HEADERS = ["Kundnummer", "Företagsnamn", "Gatuadress", "Postnummer", "Ort", "Land", "Telefon",
           "E-post", "Hemsida", "Latitud", "Longitud", "Status", "Klass", "Anteckningar"]
WORDS = ["Åkes", "Bageri", "Bygg", "Måleri", "Rör", "El", "Café", "Däck", "Frisör", "Blommor", "Städ", "Järn", "Färg", "Golv", "Tak", "Nordic", "Svea", "Norrland", "Väst", "Öst", "Fjäll", "Sjö", "Skog", "Berg", "Dal", "Älv", "Lind", "Björk", "Ek", "Gran"]


def make_csv(path: Path, n: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    towns = list(gazetteer.places("SE")[:300])
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADERS)
    for i in range(n):
        town = rng.choice(towns)
        name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i} {rng.choice(('AB', 'HB', ''))}".strip()
        located = rng.random() < 0.4
        broken = rng.random() < 0.02
        writer.writerow([
            f"K{i:06d}", "" if broken else name, f"Storgatan {rng.randint(1, 99)}",
            f"{rng.randint(100, 999)} {rng.randint(10, 99)}", town.name, "Sverige",
            f"0{rng.randint(10, 99)}-{rng.randint(100000, 999999)}" if rng.random() < 0.8 else "",
            f"info@firma{i}.se" if rng.random() < 0.6 else "",
            f"www.firma{i}.se" if rng.random() < 0.4 else "",
            f"{town.lat + rng.uniform(-0.02, 0.02):.5f}".replace(".", ",") if located else "",
            f"{town.lon + rng.uniform(-0.02, 0.02):.5f}".replace(".", ",") if located else "",
            rng.choice(("Kund", "Prospekt", "Lead", "Tidigare kund")), rng.choice("ABC"),
            "Ring före besök" if rng.random() < 0.1 else "",
        ])
    path.write_bytes(out.getvalue().encode("cp1252"))


def peer_floor(path: Path, db_path: Path) -> float:
    started = time.perf_counter()
    with path.open(encoding="cp1252", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    conn = sqlite3.connect(db_path)
    conn.execute(f"CREATE TABLE raw ({', '.join(f'c{i} TEXT' for i in range(len(HEADERS)))})")
    conn.executemany(f"INSERT INTO raw VALUES ({', '.join('?' * len(HEADERS))})", rows[1:])
    conn.commit()
    conn.close()
    return time.perf_counter() - started


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kunder.csv"
        make_csv(path, n)
        gazetteer.lookup_town("x", "SE")  # the gazetteer loads once per process; timed apart
        started, cpu = time.perf_counter(), time.process_time()
        table = read_table(path)
        read_s = time.perf_counter() - started
        mapping = as_mapping(suggest_mapping(table.headers, "accounts"))
        checked = validate_rows(table, "accounts", mapping, options=Options("SE"))
        phase1, phase1_cpu = time.perf_counter() - started, time.process_time() - cpu
        db = open_database(Path(tmp) / "crm.db")
        _phone.cache_clear()  # no head start from the validation run above
        _email.cache_clear()
        started, cpu = time.perf_counter(), time.process_time()
        with db.session() as session:
            table = read_table(path)
            report = import_table(session=session, table=table, entity="accounts",
                                  mapping=as_mapping(suggest_mapping(table.headers, "accounts")),
                                  options=Options("SE"))
        full, full_cpu = time.perf_counter() - started, time.process_time() - cpu
        db.close()
        floor = peer_floor(path, Path(tmp) / "raw.db")
    print(f"file: {n:,} rows, {table.encoding}, delimiter {table.delimiter!r}")
    print(f"ours, read+map+validate: {phase1:.1f} s wall, {phase1_cpu:.1f} s CPU (read {read_s:.1f} s); "
          f"{len(checked.records):,} valid, {len(checked.rejected):,} rejected")
    print(f"ours, full import into SQLite (one transaction, outbox, gazetteer): {full:.1f} s wall, "
          f"{full_cpu:.1f} s CPU "
          f"(target <= 30 s); {report.created:,} created, {report.geocoded:,} placed at their town")
    print(f"peer (stdlib floor: csv.reader + sqlite3.executemany, no checks): {floor:.1f} s")
    print("(wall and CPU differ when other processes share the cores; CPU is what the import costs)")
    print(json.dumps({"bench": "import_rows", "rows": n, "validate_seconds": round(phase1, 2),
                      "read_seconds": round(read_s, 2), "import_seconds": round(full, 2),
                      "validate_cpu_seconds": round(phase1_cpu, 2), "import_cpu_seconds": round(full_cpu, 2),
                      "target_seconds": 30, "created": report.created,
                      "rejected": len(report.rejected), "geocoded": report.geocoded,
                      "peer": "csv+sqlite3 floor", "peer_seconds": round(floor, 2)}))


if __name__ == "__main__":
    main()
