"""Soak runs of the sync guarantees: G1 (server SIGKILLed mid-sync, 2,000 kills) and G3 (the
convergence state machine, 5,000 examples of <= 50 steps), seeded, in chunks.

Runs the CI tests (tests/sync/test_guarantees_kill.py and _model.py) with bigger sizes through
their environment variables, one pytest process per chunk; chunk k uses seed ``seed + k``, so
a failing chunk is replayed with the seed it prints. ``--deadline-min`` stops starting chunks
after that many minutes and reports what completed. Run (low priority on a shared machine):
``nice -n 19 .venv/bin/python bench/sync_soak.py [--kills 2000] [--examples 5000] [--seed 7]
[--backend sqlite|postgres] [--only g1|g3] [--chunk-kills 250] [--chunk-examples 250]
[--deadline-min 50]``. Prints figures per chunk and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(test: str, env: dict[str, str], keyword: str) -> tuple[bool, float, str]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", test, "-q", "-s", "-p", "no:cacheprovider", "-k",
         keyword], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
    return proc.returncode == 0, time.monotonic() - started, proc.stdout + proc.stderr


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def soak_g1(args: argparse.Namespace, stop_at: float) -> dict[str, object]:
    done = failed_syncs = chunks = 0
    landed: Counter[str] = Counter()
    failures: list[int] = []
    secs = 0.0
    while done < args.kills and time.monotonic() < stop_at:
        size, seed = min(args.chunk_kills, args.kills - done), args.seed + chunks
        ok, took, out = run("tests/sync/test_guarantees_kill.py", {
            "FIELDCRM_G1_ITERATIONS": str(size), "FIELDCRM_G1_SEED": str(seed)}, args.backend)
        secs += took
        chunks += 1
        found = re.search(r"^G1 \w+: (\{.*\})$", out, re.MULTILINE)
        if ok and found:
            figures = ast.literal_eval(found.group(1))
            done += int(figures["kills"])
            failed_syncs += int(figures["failed_syncs"])
            landed.update(figures["landed"])
            print(f"G1 chunk seed {seed}: {size} kills PASS in {took:.0f} s, landed "
                  f"{figures['landed']}", flush=True)
        else:
            failures.append(seed)
            print(f"G1 chunk seed {seed}: FAIL in {took:.0f} s\n{_tail(out)}", flush=True)
            break
    rate = done / secs if secs else 0.0
    print(f"G1 kill -9 mid-sync ({args.backend}): {done} of {args.kills} kills, "
          f"{len(failures)} failing chunks, {failed_syncs} syncs cut, landed {dict(landed)}, "
          f"{secs:.0f} s ({rate:.1f} kills/s)", flush=True)
    return {"g1_kills": done, "g1_target": args.kills, "g1_failed_seeds": failures,
            "g1_landed": dict(landed), "g1_syncs_cut": failed_syncs, "g1_seconds": round(secs)}


def soak_g3(args: argparse.Namespace, stop_at: float) -> dict[str, object]:
    done = chunks = 0
    failures: list[int] = []
    secs = 0.0
    while done < args.examples and time.monotonic() < stop_at:
        size, seed = min(args.chunk_examples, args.examples - done), args.seed + chunks
        ok, took, out = run("tests/sync/test_guarantees_model.py", {
            "FIELDCRM_G3_EXAMPLES": str(size), "FIELDCRM_G3_PG_EXAMPLES": str(size),
            "FIELDCRM_G3_STEPS": str(args.steps), "FIELDCRM_G3_SEED": str(seed),
            "FIELDCRM_G3_SHRINK": "1"},
            "state_machine_on_postgres" if args.backend == "postgres" else "convergence")
        secs += took
        chunks += 1
        if ok:
            done += size
            print(f"G3 chunk seed {seed}: {size} examples x <= {args.steps} steps PASS in "
                  f"{took:.0f} s", flush=True)
        else:
            failures.append(seed)
            print(f"G3 chunk seed {seed}: FAIL in {took:.0f} s\n{_tail(out, 30)}", flush=True)
            break
    print(f"G3 state machine ({args.backend}): {done} of {args.examples} examples x <= "
          f"{args.steps} steps, "
          f"{len(failures)} failing chunks, {secs:.0f} s", flush=True)
    return {"g3_examples": done, "g3_target": args.examples, "g3_steps": args.steps,
            "g3_failed_seeds": failures, "g3_seconds": round(secs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=2000)
    ap.add_argument("--examples", type=int, default=5000)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--only", choices=["g1", "g3"])
    ap.add_argument("--chunk-kills", type=int, default=250)
    ap.add_argument("--chunk-examples", type=int, default=250)
    ap.add_argument("--deadline-min", type=float, default=0.0,
                    help="stop starting chunks after this many minutes (0: no limit)")
    args = ap.parse_args()
    began = time.monotonic()
    stop_at = began + args.deadline_min * 60 if args.deadline_min else float("inf")
    if args.backend == "postgres":
        os.environ["FIELDCRM_REQUIRE_POSTGRES"] = "1"  # a skipped chunk must not read as a pass
    out: dict[str, object] = {"bench": "sync_soak", "seed": args.seed, "backend": args.backend}
    if args.only in (None, "g1"):
        out.update(soak_g1(args, stop_at))
    if args.only in (None, "g3"):
        out.update(soak_g3(args, stop_at))
    out["seconds"] = round(time.monotonic() - began)
    ok = not out.get("g1_failed_seeds") and not out.get("g3_failed_seeds")
    out["pass"] = ok
    print(json.dumps(out))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
