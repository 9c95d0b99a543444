"""The `fieldcrm` command line: the app by default, or one of the subcommands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each subcommand lives in its own module with `register(subparsers) -> None`, which adds a
# parser and sets `func=run` (a callable taking the parsed args and returning an exit code).
# Modules keep heavy imports inside `run` so that `fieldcrm --help` stays fast.
SUBCOMMANDS: tuple[str, ...] = (
    "fieldcrm.commands.demo",
    "fieldcrm.commands.route",
    "fieldcrm.commands.dataio",
    "fieldcrm.commands.sync",
)

# The tabs `--screenshot --view` can show (ui.main_window.MainWindow.show_view maps them).
SCREENSHOT_VIEWS: tuple[str, ...] = ("list", "account", "map", "route", "territories",
                                     "analysis", "sync", "quality")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser: app options at the top level, plus every registered subcommand."""
    parser = argparse.ArgumentParser(prog="fieldcrm", description=__doc__)
    parser.add_argument("--db", help="local database file (default: in the user data folder)")
    parser.add_argument("--screenshot", metavar="FILE.png", help="render the window offscreen, save it and exit")
    parser.add_argument("--view", choices=SCREENSHOT_VIEWS, default="list",
                        help="tab shown with --screenshot")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # not written yet: the command is simply absent
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run fieldcrm; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.command is None:
        from fieldcrm.ui.app import run_app

        return run_app(args)
    from fieldcrm.errors import FieldCrmError

    try:
        return int(args.func(args) or 0)
    except FieldCrmError as exc:
        print(f"fieldcrm: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
