"""`fieldcrm sync` headless: password from stdin then the keyring, summary text or JSON, plain errors."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from fieldcrm.cli import main
from fieldcrm.db.engine import open_database
from tests.sync.client_helpers import ServerProcess, free_port, rep_with_territory
from tests.sync.conftest import PASSWORD

pytest_plugins = ["tests.sync.conftest_client"]


def _run(argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: Any, stdin: str = "") -> Any:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sync_command(lite: Any, zygote: Any, memory_keyring: Any, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from fieldcrm.services.accounts import create_account

    rep_with_territory(lite, "anna")
    server = ServerProcess(zygote, str(lite.settings.db))
    path = tmp_path / "laptop.db"
    db = open_database(path)
    with db.session() as s:
        create_account(session=s, fields={"name": "Via CLI", "lon": 18.0, "lat": 59.5})
    db.close()
    base = ["sync", "--db", str(path), "--server", server.base_url, "--user", "anna"]
    try:
        code, out, _ = _run([*base, "--password-stdin", "--json"], monkeypatch, capsys,
                            PASSWORD + "\n")
        summary = json.loads(out)
        assert code == 0 and summary["ok"] and summary["acked"] == 1 and summary["pending"] == 0
        code, out, _ = _run(base, monkeypatch, capsys)  # no password: the keyring's login
        assert code == 0 and "all sent" in out
        code, out, err = _run([*base, "--password-stdin"], monkeypatch, capsys, "wrong\n")
        assert code == 2 and "Wrong user name or password." in err and "Traceback" not in err
        dead = ["sync", "--db", str(path), "--server", f"http://127.0.0.1:{free_port()}",
                "--user", "anna", "--password-stdin", "--json", "--retries", "0"]
        code, out, _ = _run(dead, monkeypatch, capsys, PASSWORD + "\n")
        assert code == 3 and json.loads(out)["kind"] == "offline"
        fresh = tmp_path / "new-laptop.db"
        code, _, err = _run(["sync", "--db", str(fresh), "--server", server.base_url],
                            monkeypatch, capsys)
        assert code == 2 and "No local database" in err and "--password-stdin" in err
        assert not fresh.exists()  # nothing to resume: no file is left behind
        code, _, err = _run(["sync", "--db", str(fresh), "--server", server.base_url,
                             "--user", "anna", "--password-stdin"], monkeypatch, capsys,
                            "wrong\n")
        assert code == 2 and "Wrong user name or password." in err
        assert not any(tmp_path.glob("new-laptop.db*"))  # a failed first login leaves nothing
        code, out, err = _run(["sync", "--db", str(fresh), "--server", server.base_url,
                               "--user", "anna", "--password-stdin"], monkeypatch, capsys,
                              PASSWORD + "\n")
        assert code == 0 and "Created the local database" in err, err
        new_laptop = open_database(fresh)  # a new laptop's first sync downloads the data
        with new_laptop.session() as s:
            assert s.scalar(text("SELECT count(*) FROM account WHERE name = 'Via CLI'")) == 1
        new_laptop.close()
    finally:
        server.stop()


def test_sync_command_without_a_keyring_syncs_and_saves_nothing(
        lite: Any, zygote: Any, memory_keyring: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """A computer with no OS keyring (a server, a container) can still sync headless with
    the password on stdin; the login is not kept anywhere and the next run needs it again."""
    import keyring
    from keyring.backends import fail

    rep_with_territory(lite, "anna")
    server = ServerProcess(zygote, str(lite.settings.db))
    keyring.set_keyring(fail.Keyring())  # the memory_keyring fixture restores the real one
    path = tmp_path / "headless.db"
    base = ["sync", "--db", str(path), "--server", server.base_url, "--user", "anna"]
    try:
        code, _, err = _run([*base, "--password-stdin"], monkeypatch, capsys, PASSWORD + "\n")
        assert code == 0 and "no OS keyring" in err and "Traceback" not in err
        code, out, _ = _run([*base, "--password-stdin", "--json"], monkeypatch, capsys,
                            PASSWORD + "\n")
        assert code == 0 and json.loads(out)["login_saved"] is False
        code, out, _ = _run([*base, "--json"], monkeypatch, capsys)  # nothing saved to resume
        assert code == 2 and json.loads(out)["kind"] == "keyring"
    finally:
        server.stop()
