"""``fieldcrm-server``: run the central sync server and administer users, devices, territories."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fieldcrm.errors import FieldCrmError, InvalidInput


def _settings(args: argparse.Namespace) -> Any:
    from fieldcrm.sync.server.settings import ServerSettings

    return ServerSettings(db=args.db) if args.db else ServerSettings()


def _database(args: argparse.Namespace) -> Any:
    from fieldcrm.sync.server.engine import make_database, migrate

    settings = _settings(args)
    db = make_database(settings.db)
    migrate(db.engine)
    return db


def read_password(prompt: str = "Password: ") -> str:
    """A password from stdin when piped, else a getpass prompt twice; never from argv."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise InvalidInput("no password on stdin")
        return line
    first = getpass.getpass(prompt)
    if getpass.getpass("Repeat: ") != first:
        raise InvalidInput("the two passwords differ")
    return first


def _in_session(args: argparse.Namespace, work: Callable[[Any], Any]) -> Any:
    db = _database(args)
    with db.write() as session, session.begin():
        return work(session)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from fieldcrm.sync.server.app import create_app

    settings = _settings(args)
    if args.workers > 1:
        # Each worker builds its app from the environment; migrate once here first.
        _database(args)
        os.environ["FIELDCRM_SERVER_DB"] = settings.db
        uvicorn.run(
            "fieldcrm.sync.server.app:app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            proxy_headers=True,
        )
    else:
        uvicorn.run(create_app(settings), host=args.host, port=args.port, proxy_headers=True)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    _database(args)
    print("database is up to date")
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    from fieldcrm.sync.server import admin

    if args.action == "list":
        for u in _in_session(args, admin.list_users):
            state = "disabled" if u.disabled else "active"
            print(f"{u.username:20} {u.role:8} {state:8} {u.id}  {u.name}")
        return 0
    if not args.username:
        raise InvalidInput(f"user {args.action} needs a USERNAME")
    if args.action == "add":
        password = read_password()
        u = _in_session(
            args,
            lambda s: admin.add_user(
                s,
                username=args.username,
                password=password,
                role=args.role,
                name=args.name,
                email=args.email,
            ),
        )
        print(f"added {u.role} {u.username} ({u.id})")
    elif args.action in ("disable", "enable"):
        _in_session(
            args,
            lambda s: admin.set_disabled(
                s, username=args.username, disabled=args.action == "disable"
            ),
        )
        print(f"{args.action}d {args.username}")
    else:
        password = read_password("New password: ")
        _in_session(
            args, lambda s: admin.reset_password(s, username=args.username, password=password)
        )
        print(f"password of {args.username} reset; its refresh tokens are revoked")
    return 0


def cmd_device(args: argparse.Namespace) -> int:
    from fieldcrm.sync.server import admin

    if args.action == "list":
        for d in _in_session(args, lambda s: admin.list_devices(s, username=args.user)):
            state = "revoked" if d.revoked else "active"
            seen = d.last_seen.isoformat(timespec="seconds") if d.last_seen else "never"
            print(f"{d.id}  {d.username:16} {state:8} last seen {seen}  {d.name}")
        return 0
    if not args.device_id:
        raise InvalidInput("device revoke needs a DEVICE_ID")
    _in_session(args, lambda s: admin.revoke_device(s, device_id=args.device_id))
    print(f"revoked device {args.device_id}")
    return 0


def cmd_territory(args: argparse.Namespace) -> int:
    from fieldcrm.sync.server import admin

    if args.action == "import":
        try:
            collection = json.loads(Path(args.target).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot read {args.target}: {exc}") from None
        done = _in_session(
            args, lambda s: admin.import_territories_report(s, collection=collection)
        )
        print(f"imported {len(done.territories)} territories from {args.target}")
        print(placement_summary(done.placement))
    elif args.action == "delete":
        t, placed = _in_session(args, lambda s: admin.delete_territory(s, ref=args.target))
        print(f"deleted territory {t.name}")
        print(placement_summary(placed))
    elif args.action == "export":
        data = _in_session(args, admin.export_territories)
        Path(args.target).write_text(
            json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        print(f"wrote {len(data['features'])} territories to {args.target}")
    elif args.action == "assign":
        user = None if args.user in (None, "-", "none") else args.user
        t = _in_session(
            args, lambda s: admin.assign_territory(s, territory_ref=args.target, user_ref=user)
        )
        print(f"territory {t.name} now belongs to {user or 'nobody'}")
    else:
        for t in _in_session(args, admin.export_territories)["features"]:
            p = t["properties"]
            print(f"{p['id']}  {p['name']:24} rep {p['rep_id'] or '-'}")
    return 0


def _accounts(n: int) -> str:
    return f"{n} account{'s' if n != 1 else ''}"


def placement_summary(placed: Any) -> str:
    """What a boundary change did to the accounts, in a manager's words."""
    lines = [f"{_accounts(len(placed.moved))} moved to another territory"]
    if placed.outside:
        lines.append(
            f"{_accounts(len(placed.outside))} now outside every territory: kept in their "
            "territory and flagged for a manager (GET /v1/accounts/flagged): "
            + ", ".join(placed.outside[:20])
            + (" ..." if len(placed.outside) > 20 else "")
        )
    if placed.by_hand:
        lines.append(f"{_accounts(placed.by_hand)} placed by hand stay where they are")
    return "\n".join(lines)


def cmd_visit(args: argparse.Namespace) -> int:
    from fieldcrm.sync.server import review
    from fieldcrm.sync.server.scopes import Actor

    if args.action == "list":
        status = "dismissed" if args.dismissed else "needs_review"
        for v in _in_session(args, lambda s: review.list_review_visits(s, status=status)):
            account = v.account_name if v.account_name is not None else "(unknown account)"
            why = v.review_reason
            if v.reviewed_at:
                why += f"; {v.review} by {v.reviewed_by_name} on {v.reviewed_at[:16]}"
                why += f": {v.review_note}" if v.review_note else ""
            print(
                f"{v.id}  {v.received_at_server[:16]}  {v.rep_name:12} {account:24} "
                f"{v.territory_name or '-':12} {why}"
            )
        return 0
    if not args.visit_id:
        raise InvalidInput(f"visit {args.action} needs a VISIT_ID")
    admin_actor = Actor(user_id="server admin", role="admin", device_id="cli", scopes=frozenset())
    v = _in_session(
        args,
        lambda s: review.review_visit(
            s, actor=admin_actor, visit_id=args.visit_id, action=args.action, note=args.note
        ),
    )
    print(f"visit {v.id} of {v.rep_name} is {v.review}")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from fieldcrm.sync.server.demo import seed_demo

    db = _database(args)
    password = read_password("Password for the demo users: ")
    counts = seed_demo(
        db, password=password, reps=args.reps, accounts=args.accounts, seed=args.seed
    )
    print("demo loaded: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    print("users: manager, " + ", ".join(f"rep{n}" for n in range(1, args.reps + 1)))
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    from fieldcrm.sync.server.store import gc

    settings = _settings(args)
    done = gc(_database(args), retention_days=settings.tombstone_retention_days)
    print(
        f"dropped {done['tombstones']} tombstones in {done['scopes']} scopes, "
        f"{done['applied_mutations']} old applied mutations"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fieldcrm-server", description=__doc__)
    p.add_argument(
        "--db", help="database URL (default: $FIELDCRM_SERVER_DB or sqlite:///server.db)"
    )
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the HTTP server")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    s.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="upgrade the database schema").set_defaults(func=cmd_migrate)
    u = sub.add_parser("user", help="manage users (password from stdin or a prompt)")
    u.add_argument("action", choices=["add", "list", "disable", "enable", "reset-password"])
    u.add_argument("username", nargs="?")
    u.add_argument("--role", default="rep", choices=["rep", "manager", "admin"])
    u.add_argument("--name", default="")
    u.add_argument("--email", default="")
    u.set_defaults(func=cmd_user)
    d = sub.add_parser("device", help="list or revoke devices")
    d.add_argument("action", choices=["list", "revoke"])
    d.add_argument("device_id", nargs="?")
    d.add_argument("--user", help="only this user's devices")
    d.set_defaults(func=cmd_device)
    t = sub.add_parser("territory", help="import/export GeoJSON, assign, delete, list")
    t.add_argument("action", choices=["import", "export", "assign", "delete", "list"])
    t.add_argument(
        "target", nargs="?", help="FILE.geojson, or TERRITORY (id or name) for assign and delete"
    )
    t.add_argument("user", nargs="?", help="assign: username ('-' for nobody)")
    t.set_defaults(func=cmd_territory)
    v = sub.add_parser("visit", help="visits under review: list, accept, dismiss")
    v.add_argument("action", choices=["list", "accept", "dismiss"])
    v.add_argument("visit_id", nargs="?")
    v.add_argument("--note", default="", help="kept with the decision (at most 200 characters)")
    v.add_argument("--dismissed", action="store_true", help="list: the dismissed visits")
    v.set_defaults(func=cmd_visit)
    sd = sub.add_parser("seed-demo", help="load a demo dataset (Swedish towns)")
    sd.add_argument("--reps", type=int, default=4)
    sd.add_argument("--accounts", type=int, default=240)
    sd.add_argument("--seed", type=int, default=1)
    sd.set_defaults(func=cmd_seed_demo)
    sub.add_parser("gc", help="drop tombstones older than R").set_defaults(func=cmd_gc)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    needs_target = args.command == "territory" and args.action != "list"
    if needs_target and not args.target:
        print(f"error: territory {args.action} needs its argument", file=sys.stderr)
        return 2
    from pydantic import ValidationError
    from sqlalchemy.exc import OperationalError

    try:
        return int(args.func(args))
    except FieldCrmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"error: invalid server settings: {problems}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        print(f"error: cannot use the database: {first}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
