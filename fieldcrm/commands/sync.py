"""`fieldcrm sync`: run one sync cycle headless and print a summary (``--json`` for machines)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sync",
        help="run one sync cycle (push, pull, verify) against a fieldcrm-server",
        description="Run one sync cycle headless. The password is read from stdin with "
        "--password-stdin; otherwise the login saved in the OS keyring is used.",
    )
    p.add_argument("--db", default=argparse.SUPPRESS, help="the local database file")
    p.add_argument("--server", required=True, help="server URL, e.g. https://crm.example.com")
    p.add_argument("--user", help="user name (default: the last one that synced this database)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of stdin and save the login")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    p.add_argument("--retries", type=int, default=3,
                   help="retries per request when offline or busy, with backoff (default 3)")
    p.set_defaults(func=run)


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str, *, err: bool) -> None:
    if args.json:
        print(json.dumps(payload, sort_keys=True))
    else:
        print(text, file=sys.stderr if err else sys.stdout)


def _open(args: argparse.Namespace) -> tuple[Any, Any]:
    """Open the local database; a first login (``--password-stdin``) may create it.

    Returns the database and, when this run created it, its path (else None).
    """
    from pathlib import Path

    from fieldcrm.config import default_db_path
    from fieldcrm.db.engine import open_database
    from fieldcrm.errors import SyncError

    path = Path(getattr(args, "db", None) or default_db_path())
    if path.exists():
        return open_database(path), None
    if not args.password_stdin:  # nothing to resume: a new file could only fail to sync
        raise SyncError(f"No local database at {path}. To start one on this laptop, log in: "
                        "--user NAME --password-stdin (the first sync downloads your data).",
                        kind="local")
    db = open_database(path)
    if not args.json:
        print(f"Created the local database {path}.", file=sys.stderr)
    return db, path


def _forget(path: Any) -> None:
    """Remove a database this run created when its first login failed (nothing was in it)."""
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        path.with_name(name).unlink(missing_ok=True)


def _log_in(args: argparse.Namespace, db: Any, client: Any) -> bool:
    """Log in from stdin or resume the keyring's login; return whether the login is saved."""
    from fieldcrm.errors import SyncError
    from fieldcrm.services.sync_login import keyring_available, login, resume

    if not args.password_stdin:
        resume(db, client, args.user)
        return True
    if not args.user:
        raise SyncError("--password-stdin needs --user NAME.", kind="auth")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise SyncError("No password on stdin.", kind="auth")
    saved = keyring_available()
    if not saved and not args.json:  # --json says it as "login_saved": false
        print("fieldcrm sync: this computer has no OS keyring, so the login is not saved: this "
              "run uses the password from stdin, and the next run needs it again (install "
              "GNOME Keyring or KWallet to keep it; fieldcrm never stores it in plain text).",
              file=sys.stderr)
    login(db, client, args.user, password, remember=saved)
    return saved


def run(args: argparse.Namespace) -> int:
    from fieldcrm.errors import SyncError
    from fieldcrm.services.sync import sync_once
    from fieldcrm.services.sync_login import make_client
    from fieldcrm.sync.client import RetryPolicy

    db, created = _open(args)
    client = make_client(args.server, timeout=args.timeout,
                         retry=RetryPolicy(attempts=max(0, args.retries)))
    logged_in = False
    try:
        saved = _log_in(args, db, client)
        logged_in = True
        summary = sync_once(db=db, client=client)
    except SyncError as exc:
        _emit(args, {"ok": False, "kind": exc.kind, "error": str(exc)},
              f"fieldcrm sync: {exc}", err=True)
        return 3 if exc.kind in ("offline", "busy") else 2
    finally:
        client.http.close()
        db.close()
        if created is not None and not logged_in:
            _forget(created)  # a mistyped password or server leaves no empty file behind
    _emit(args, {"ok": True, "login_saved": saved, **summary.as_dict()}, summary.text(),
          err=False)
    return 0
