"""G7: no cursor skips under concurrent commits (a slow writer holds a version; a puller runs)."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from fieldcrm.domain.ids import new_id
from fieldcrm.sync.protocol import ChangeOp, Cursor, PullRequest, scope_of_territory
from fieldcrm.sync.server import store
from fieldcrm.sync.server.models import utcnow
from fieldcrm.sync.server.scopes import Actor, IndexWrites

ITERATIONS = int(os.environ.get("FIELDCRM_G7_ITERATIONS", "40"))  # target: 1,000 (bench)


def _write(db: Any, scope: str, entity_id: str, *, taken: Any = None, hold: float = 0.0) -> None:
    with db.write() as s, s.begin():
        index = IndexWrites(session=s, now=utcnow())
        index.stage({scope}, "account", entity_id, ChangeOp.UPSERT, 1)
        index.flush()  # takes the scope version (UPDATE scope_counter ... RETURNING)
        if taken is not None:
            taken.set()
        time.sleep(hold)


def test_slow_writer_is_never_skipped(make_harness: Any) -> None:
    h = make_harness()
    t = h.territory("North")
    scope = scope_of_territory(t)
    actor = Actor(user_id="puller", role="manager", device_id="d", scopes=frozenset({scope}))
    cursor = Cursor()
    for _ in range(ITERATIONS):
        a, b = new_id(), new_id()
        taken = threading.Event()
        slow = threading.Thread(target=_write, args=(h.db, scope, a),
                                kwargs={"taken": taken, "hold": 0.02})
        slow.start()
        taken.wait(5)
        fast = threading.Thread(target=_write, args=(h.db, scope, b))
        fast.start()
        seen: set[str] = set()
        deadline = time.monotonic() + 10
        while not {a, b} <= seen and time.monotonic() < deadline:
            page = store.pull(h.db, actor=actor, request=PullRequest(cursors={scope: cursor}))
            seen |= {c.id for c in page.changes}
            cursor = page.next_cursors[scope]
        slow.join()
        fast.join()
        page = store.pull(h.db, actor=actor, request=PullRequest(cursors={scope: cursor}))
        seen |= {c.id for c in page.changes}
        assert {a, b} <= seen, "the puller's cursor skipped a slower transaction"
