"""A fork server for sync-server processes: import once, fork a fresh uvicorn child per start.

Run as ``python -m tests.sync.zygote`` (from the repository root). The zygote imports FastAPI,
uvicorn and the server, warms them on a throwaway SQLite file (no connection survives), and
then reads one JSON job per line on stdin: ``{"port", "settings", "kill", "notes"}``. For each
job it binds and listens on ``127.0.0.1:port`` itself, forks, closes its own copy of the socket
and prints the child's pid. The child is a real, separate OS process: it builds the app with
``create_app`` (so its engine and every database connection are its own; nothing is shared
across the fork) and serves HTTP with uvicorn on the inherited socket. Because the socket is
already listening when the pid is printed, clients can connect at once; killing the child
closes the listener, so clients then get "connection refused" until the next start.

``kill`` arms one SIGKILL inside the child at an exact moment (the G1 kill points):

* ``before_commit``: the ``nth`` push has written its effects (``applied_mutation`` rows
  included) and is about to COMMIT;
* ``after_commit``: the ``nth`` push committed and its response is about to be sent;
* ``mid_pull``: the ``nth`` pull page has sent its headers and half of its body;
* ``mid_batch``: the ``nth`` push is at its ``step``-th SQL statement (locks, reads, inserts).

Before it dies the child appends ``"<pid> <point>"`` to the ``notes`` file, so the test can
tell where each kill landed. The signal is a real SIGKILL (``os.kill(os.getpid(), SIGKILL)``):
no handler, no cleanup, no flushing runs, exactly as with ``kill -9`` from outside.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from typing import Any

POINTS = ("before_commit", "after_commit", "mid_pull", "mid_batch")


class _Arm:
    """The armed kill point of this child (one client at a time, so module state is fine)."""

    point = ""
    nth = 0
    step = 0
    notes = ""
    seen: dict[str, int] = {}  # noqa: RUF012 - per-process counters
    in_push = False
    statements = 0
    wrote_effects = False


def _die(point: str) -> None:
    if _Arm.notes:
        fd = os.open(_Arm.notes, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, f"{os.getpid()} {point}\n".encode())
        os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def _install_sql_hooks() -> None:
    from sqlalchemy import Engine, event

    @event.listens_for(Engine, "before_cursor_execute")
    def _statement(_conn: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if not _Arm.in_push:
            return
        _Arm.statements += 1
        if "applied_mutation" in statement and statement.lstrip().upper().startswith("INSERT"):
            _Arm.wrote_effects = True
        if _Arm.point == "mid_batch" and _Arm.statements == _Arm.step:
            _die("mid_batch")

    @event.listens_for(Engine, "commit")
    def _commit(_conn: Any) -> None:
        if _Arm.in_push and _Arm.point == "before_commit" and _Arm.wrote_effects:
            _die("before_commit")


class KillSwitch:
    """ASGI wrapper that counts push/pull requests and arms the kill point on the nth one."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        kind = "push" if path.endswith("/sync/push") else "pull" if path.endswith("/sync/pull") else ""
        if not kind:
            await self.app(scope, receive, send)
            return
        _Arm.seen[kind] = _Arm.seen.get(kind, 0) + 1
        armed = _Arm.seen[kind] == _Arm.nth and (
            (kind == "push" and _Arm.point in ("before_commit", "after_commit", "mid_batch"))
            or (kind == "pull" and _Arm.point == "mid_pull")
        )
        if not armed:
            await self.app(scope, receive, send)
            return
        if kind == "pull":
            await self.app(scope, receive, self._half_body_then_die(send))
            return
        _Arm.in_push, _Arm.statements, _Arm.wrote_effects = True, 0, False
        try:
            await self.app(scope, receive, self._die_at_response(send))
        finally:
            _Arm.in_push = False

    @staticmethod
    def _die_at_response(send: Any) -> Any:
        async def wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and _Arm.point == "after_commit":
                _die("after_commit")
            await send(message)

        return wrapped

    @staticmethod
    def _half_body_then_die(send: Any) -> Any:
        async def wrapped(message: dict[str, Any]) -> None:
            if message["type"] != "http.response.body":
                await send(message)
                return
            body = message.get("body", b"")
            await send({"type": "http.response.body", "body": body[: len(body) // 2],
                        "more_body": True})
            _die("mid_pull")

        return wrapped


def _serve(sock: socket.socket, job: dict[str, Any]) -> None:
    """The child: build the app on its own engine and serve on the inherited socket."""
    import uvicorn

    from fieldcrm.sync.server.app import create_app
    from fieldcrm.sync.server.settings import ServerSettings

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    kill = job.get("kill") or {}
    _Arm.point, _Arm.nth, _Arm.step = kill.get("point", ""), kill.get("nth", 0), kill.get("step", 0)
    _Arm.notes, _Arm.seen = job.get("notes", ""), {}
    app: Any = create_app(ServerSettings(**job["settings"]))
    _reuse_compiled(app.state.fieldcrm.db.engine)
    if _Arm.point:
        _install_sql_hooks()
        app = KillSwitch(app)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


def _listen(port: int) -> socket.socket:
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only then (else Nagle
    # and delayed ACKs add ~40 ms to every response)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class _InlineTransport:
    """A sync httpx transport that runs the ASGI app inline (no thread: the zygote forks)."""

    def __init__(self, app: Any) -> None:
        import httpx

        self.asgi = httpx.ASGITransport(app=app)

    def handle_request(self, request: Any) -> Any:
        import asyncio

        import httpx

        async def go() -> Any:
            inner = httpx.Request(request.method, request.url, headers=request.headers,
                                  content=request.read())
            response = await self.asgi.handle_async_request(inner)
            body = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=body)

        return asyncio.run(go())

    def close(self) -> None:
        pass


async def _inline_run_sync(func: Any, *args: Any, **_kw: Any) -> Any:
    return func(*args)


def _exercise(url: str, folder: str) -> Any:
    """Run a real laptop's sync cycles through the app on ``url``; return the app's engine.

    Warms every process-wide cache a request touches (FastAPI, pydantic, ORM) and fills the
    engine's compiled-SQL cache, which children copy (``_reuse_compiled``). FastAPI's
    threadpool is bypassed so that no thread is ever started.
    """
    import anyio.to_thread
    import httpx
    import keyring

    from fieldcrm.sync.server.app import create_app
    from fieldcrm.sync.server.auth import configure_hasher
    from fieldcrm.sync.server.settings import ServerSettings
    from tests.sync.client_helpers import (
        Laptop,
        MemoryKeyring,
        add_contact,
        log_visit,
        rep_with_territory,
    )

    configure_hasher(time_cost=1, memory_cost_kib=1024)
    keyring.set_keyring(MemoryKeyring())
    real_run_sync = anyio.to_thread.run_sync
    anyio.to_thread.run_sync = _inline_run_sync  # type: ignore[assignment]
    try:
        app = create_app(ServerSettings(db=url))

        class _Admin:  # the few Harness methods rep_with_territory needs
            from tests.sync.conftest import Harness

            add_user, territory, assign = Harness.add_user, Harness.territory, Harness.assign

        admin = _Admin()
        admin.db, admin.users = app.state.fieldcrm.db, {}  # type: ignore[attr-defined]
        rep_with_territory(admin, "warm")
        http = httpx.Client(transport=_InlineTransport(KillSwitch(app)), base_url="http://warm")
        from pathlib import Path

        lap = Laptop(Path(folder), "warm", http, base_url="http://warm")
        accounts: list[str] = []
        for i in range(4):
            accounts.append(lap.create_account(f"W{i}"))
            for acc in accounts:
                log_visit(lap, acc)
                lap.update_account(acc, notes=f"round {i}")
            add_contact(lap, accounts[-1], f"C{i}")
            lap.sync(pull_limit=5)
        lap.close()
        http.close()
        return app.state.fieldcrm.db.engine
    finally:
        anyio.to_thread.run_sync = real_run_sync  # type: ignore[assignment]


_WARM: dict[str, Any] = {}  # backend name -> a warmed engine (its connections closed)


def _warm() -> None:
    """Import and exercise everything a child needs, leaving no thread and no connection."""
    import gc
    import shutil
    import tempfile
    import threading

    import uvicorn

    folder = tempfile.mkdtemp(prefix="fieldcrm-zygote-")
    try:
        engine = _exercise(f"sqlite:///{folder}/warm.db", folder)
        engine.dispose()
        _WARM["sqlite"] = engine
    except Exception as exc:  # warming is an optimisation: never fatal
        print(f"zygote: warm-up failed: {exc!r}", file=sys.stderr, flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    uvicorn.Config(KillSwitch(None), log_level="warning", lifespan="off").load()
    assert threading.active_count() == 1, "the zygote must not fork with threads running"
    gc.collect()
    gc.freeze()  # children do not touch (and so do not copy) the zygote's objects in GC passes


def _reuse_compiled(engine: Any) -> None:
    """Give a child's new engine the SQL its zygote already compiled for the same dialect.

    Only the compiled statements are copied (re-keyed to the new dialect); the engine, its
    pool and every connection are the child's own. A real restart recompiles them (~100 ms
    of CPU on the first sync); that cost says nothing about durability, so tests skip it.
    """
    warm = _WARM.get(engine.dialect.name)
    if warm is None or warm._compiled_cache is None or engine._compiled_cache is None:
        return
    for key, compiled in list(warm._compiled_cache.items()):
        engine._compiled_cache[(engine.dialect, *key[1:])] = compiled


def main() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    _warm()
    for line in sys.stdin:
        job = json.loads(line)
        try:
            sock = _listen(int(job["port"]))
        except OSError as exc:
            print(json.dumps({"error": f"cannot listen on {job['port']}: {exc}"}), flush=True)
            continue
        pid = os.fork()
        if pid == 0:
            try:
                _serve(sock, job)
            finally:
                os._exit(0)
        sock.close()
        print(json.dumps({"pid": pid}), flush=True)


if __name__ == "__main__":
    main()
