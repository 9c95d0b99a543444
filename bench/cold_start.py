"""Cold start: from launching `fieldcrm` to a usable window (first page of the list shown).

Runs `fieldcrm --db DB --screenshot X.png --view list` in a fresh process several times, with
its own data folder, and reads the app's log line "Window usable ... (epoch T)": the cold start
is T minus the moment just before the process was spawned, so it includes the Python and Qt
imports, opening (and checking the migrations of) the database, building the window and the
first page of the accounts query. Target (issue 2): ≤ 2 s on a 100,000-account database.

Usage: python bench/cold_start.py --db DEMO.db [--runs 5]
       (build DEMO.db with `fieldcrm demo --db DEMO.db --accounts 100000`)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 2.0
_USABLE = re.compile(r"Window usable: first page of (\d+) accounts shown ([\d.]+) s after start "
                     r"\(epoch ([\d.]+)\)")
_OPENED = re.compile(r"Qt started in ([\d.]+) s; opened .* in ([\d.]+) s")


def one_run(db: Path, work: Path, i: int) -> dict[str, float]:
    """Start the app once; return its cold start, in-app and whole-process times in seconds."""
    data = work / f"data{i}"
    env = {**os.environ, "FIELDCRM_DATA_DIR": str(data), "QT_QPA_PLATFORM": "offscreen"}
    shot = work / f"shot{i}.png"
    spawned = time.time()
    proc = subprocess.run([sys.executable, "-m", "fieldcrm", "--db", str(db), "--screenshot",
                           str(shot), "--view", "list"], env=env, capture_output=True, text=True,
                          timeout=300)
    total = time.time() - spawned
    if proc.returncode != 0:
        raise SystemExit(f"fieldcrm exited {proc.returncode}:\n{proc.stderr}")
    log_text = (data / "logs" / "fieldcrm.log").read_text(encoding="utf-8")
    usable = _USABLE.search(log_text)
    opened = _OPENED.search(log_text)
    if usable is None:
        raise SystemExit("The app did not log when it became usable.")
    return {"cold_start_s": float(usable.group(3)) - spawned,
            "in_app_s": float(usable.group(2)),
            "qt_s": float(opened.group(1)) if opened else float("nan"),
            "open_db_s": float(opened.group(2)) if opened else float("nan"),
            "process_s": total, "accounts": float(usable.group(1))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="fieldcrm-cold-") as tmp:
        for i in range(args.runs):
            r = one_run(args.db.resolve(), Path(tmp), i)
            runs.append(r)
            print(f"  run {i + 1}: usable after {r['cold_start_s']:.2f} s (in run_app "
                  f"{r['in_app_s']:.2f} s: Qt {r['qt_s']:.2f} s, opening the database "
                  f"{r['open_db_s']:.2f} s; "
                  f"whole process with screenshot and exit {r['process_s']:.2f} s)")
    cold = [r["cold_start_s"] for r in runs]
    result = {
        "bench": "cold_start", "accounts": int(runs[0]["accounts"]), "runs": len(runs),
        "median_s": round(statistics.median(cold), 3), "min_s": round(min(cold), 3),
        "max_s": round(max(cold), 3),
        "median_qt_s": round(statistics.median(r["qt_s"] for r in runs), 3),
        "median_open_db_s": round(statistics.median(r["open_db_s"] for r in runs), 3),
        "target_s": TARGET_S,
    }
    print(f"{result['accounts']:,} accounts: cold start median {result['median_s']:.2f} s "
          f"(min {result['min_s']:.2f}, max {result['max_s']:.2f}); target ≤ {TARGET_S:.0f} s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
