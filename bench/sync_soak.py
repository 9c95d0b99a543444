"""Soak runs of the sync guarantees: G1 (server SIGKILLed mid-sync, default 2,000 iterations)
and G3 (the convergence state machine, default 5,000 examples), seeded.

Runs the same test code as CI (tests/sync/test_guarantees_kill.py and _model.py) with bigger
sizes through environment variables, and reports pass/fail, time and the seed.
Run: ``.venv/bin/python bench/sync_soak.py [--kills 2000] [--examples 5000] [--seed 7]
[--backend sqlite|postgres] [--only g1|g3]``. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(test: str, env: dict[str, str], keyword: str) -> tuple[bool, float, str]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", test, "-q", "-s", "-p", "no:cacheprovider", "-k",
         keyword], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
    return proc.returncode == 0, time.monotonic() - started, tail


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=2000)
    ap.add_argument("--examples", type=int, default=5000)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--only", choices=["g1", "g3"])
    args = ap.parse_args()
    out: dict[str, object] = {"bench": "sync_soak", "seed": args.seed, "backend": args.backend}
    ok = True
    if args.only in (None, "g1"):
        passed, secs, tail = run("tests/sync/test_guarantees_kill.py", {
            "FIELDCRM_G1_ITERATIONS": str(args.kills), "FIELDCRM_G1_SEED": str(args.seed)},
            args.backend)
        print(f"G1 kill -9 mid-sync: {args.kills} iterations, seed {args.seed}: "
              f"{'PASS' if passed else 'FAIL'} in {secs:.0f} s\n{tail}")
        out.update(g1_iterations=args.kills, g1_pass=passed, g1_seconds=round(secs))
        ok &= passed
    if args.only in (None, "g3"):
        passed, secs, tail = run("tests/sync/test_guarantees_model.py", {
            "FIELDCRM_G3_EXAMPLES": str(args.examples), "FIELDCRM_G3_STEPS": str(args.steps),
            "FIELDCRM_G3_SEED": str(args.seed), "FIELDCRM_G3_SHRINK": "1"}, "convergence")
        print(f"G3 state machine: {args.examples} examples x <= {args.steps} steps, seed "
              f"{args.seed}: {'PASS' if passed else 'FAIL'} in {secs:.0f} s\n{tail}")
        out.update(g3_examples=args.examples, g3_pass=passed, g3_seconds=round(secs))
        ok &= passed
    print(json.dumps(out))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
