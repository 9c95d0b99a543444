"""``fieldcrm-server`` admin commands and ``serve`` as a real uvicorn process on 127.0.0.1."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time

import httpx
import pytest

from fieldcrm.sync.server.cli import main


def _run(db: str, monkeypatch, capsys, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["--db", db, *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_admin_commands(tmp_path, monkeypatch, capsys):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    code, out, _ = _run(
        db, monkeypatch, capsys, "user", "add", "ann", "--role", "rep", stdin="pw-secret-1\n"
    )
    assert code == 0 and "added rep ann" in out
    code, _, err = _run(db, monkeypatch, capsys, "user", "add", "ann", stdin="pw-secret-1\n")
    assert code == 2 and "already exists" in err
    code, _, err = _run(db, monkeypatch, capsys, "user", "add", "bob", stdin="short\n")
    assert code == 2 and "at least 8 characters" in err
    code, _, err = _run(db, monkeypatch, capsys, "user", "add", "bob", "--role", "rep")
    assert code == 2 and "no password on stdin" in err
    geo = tmp_path / "t.geojson"
    geo.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "North"},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[17, 59], [19, 59], [19, 60], [17, 59]]],
                        },
                    }
                ],
            }
        )
    )
    assert _run(db, monkeypatch, capsys, "territory", "import", str(geo))[0] == 0
    code, out, _ = _run(db, monkeypatch, capsys, "territory", "assign", "North", "ann")
    assert code == 0 and "North now belongs to ann" in out
    out_file = tmp_path / "out.geojson"
    assert _run(db, monkeypatch, capsys, "territory", "export", str(out_file))[0] == 0
    exported = json.loads(out_file.read_text())
    assert exported["features"][0]["properties"]["name"] == "North"
    bad = tmp_path / "bad.geojson"
    bad.write_text(
        '{"type": "FeatureCollection", "features": [{"properties": {"name": "X"}, '
        '"geometry": {"type": "Point", "coordinates": [1, 2]}}]}'
    )
    code, _, err = _run(db, monkeypatch, capsys, "territory", "import", str(bad))
    assert code == 2 and "feature 1" in err and "Polygon" in err
    code, out, _ = _run(db, monkeypatch, capsys, "user", "disable", "ann")
    assert code == 0
    code, out, _ = _run(db, monkeypatch, capsys, "user", "list")
    assert "ann" in out and "disabled" in out
    code, _, err = _run(db, monkeypatch, capsys, "device", "revoke", "nope")
    assert code == 2 and "no device" in err


def test_seed_demo_and_gc(tmp_path, monkeypatch, capsys):
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    code, out, _ = _run(
        db,
        monkeypatch,
        capsys,
        "seed-demo",
        "--reps",
        "2",
        "--accounts",
        "60",
        stdin="demo-password\n",
    )
    assert code == 0 and "60 accounts" in out and "4 territories" in out
    code, _, err = _run(db, monkeypatch, capsys, "seed-demo", stdin="demo-password\n")
    assert code == 2 and "already loaded" in err
    code, out, _ = _run(db, monkeypatch, capsys, "gc")
    assert code == 0 and "dropped 0 tombstones" in out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_answers_health_and_openapi(tmp_path):
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "fieldcrm.sync.server.cli",
        "--db",
        f"sqlite:///{tmp_path / 's.db'}",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                assert time.time() < deadline, "server did not start"
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["protocol_max"] == 1
        assert (
            "/v1/auth/token" in httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()["paths"]
        )
    finally:
        proc.terminate()
        proc.wait(10)


def test_database_url_from_the_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FIELDCRM_SERVER_DB", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setattr(sys, "stdin", io.StringIO("pw-secret-1\n"))
    assert main(["user", "add", "eve", "--role", "manager"]) == 0
    assert (tmp_path / "env.db").exists()
    monkeypatch.setenv("FIELDCRM_SERVER_SECRET", "short")
    assert main(["user", "list"]) == 2
    assert "at least 32 characters" in capsys.readouterr().err
