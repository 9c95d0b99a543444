"""Work around PySide6 6.12.0 on Python 3.11: every Python ``Signal.emit`` drops a ref to ``True``.

``SignalInstance.emit`` returns ``True`` without taking a reference. On Python 3.12+ ``True`` is
immortal so nothing happens; on 3.11 each emit lowers its reference count by one, and after
roughly ten thousand emits (a day of use, or one test run) the interpreter aborts with
"Fatal Python error: bool_dealloc: deallocating True or False". :func:`install` checks whether
this PySide has the bug and, only then, wraps ``emit`` to give the reference back.
"""

from __future__ import annotations

import ctypes
import gc
import sys
from typing import Any

from PySide6.QtCore import QObject, Signal, SignalInstance

_PROBES = 16
_installed = False
_pinned = False


class _Probe(QObject):
    sig_probe = Signal()
    """Emitted only to measure what an emit does to the reference count of ``True``."""


def emit_loses_true() -> bool:
    """Return True if a Python ``emit`` lowers the reference count of ``True`` (the bug)."""
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(_PROBES):
        probe.sig_probe.emit()
    return before - sys.getrefcount(True) >= _PROBES


def pin_refcounts() -> None:
    """Raise the reference counts of True, False and None far out of reach (Python < 3.12).

    PySide6 6.12.0 also drops a reference to None on every void C++ call, which no wrapper can
    catch; Python 3.12 made these objects immortal, and this does the same for 3.11.
    """
    global _pinned
    if _pinned or sys.version_info >= (3, 12):
        return
    for obj in (True, False, None):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40
    _pinned = True


def install() -> bool:
    """Apply both workarounds (idempotent); return whether ``emit`` needed patching."""
    global _installed
    pin_refcounts()
    if _installed or not emit_loses_true():
        return False
    original = SignalInstance.emit
    incref = ctypes.pythonapi.Py_IncRef
    incref.argtypes = [ctypes.py_object]
    incref.restype = None

    def emit(self: SignalInstance, *args: Any) -> Any:
        result = original(self, *args)
        if result is True:
            incref(True)  # the reference PySide forgot to take
        return result

    SignalInstance.emit = emit  # type: ignore[method-assign]
    _installed = True
    return True


class MainThreadGC(QObject):
    """Run Python's cyclic garbage collector on the GUI thread only.

    Left to itself, the collector runs on whichever thread happens to allocate when a
    threshold trips; if it then frees a cycle holding a Qt object, that object is destroyed on
    a worker thread and Qt crashes (seen as a segfault "Garbage-collecting" inside a worker).
    This turns automatic collection off and collects from a timer on the GUI thread instead,
    generation by generation, with the interpreter's own thresholds.
    """

    def __init__(self, interval_ms: int = 500, parent: QObject | None = None) -> None:
        from PySide6.QtCore import QTimer

        super().__init__(parent)
        gc.disable()
        self._threshold = gc.get_threshold()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start(interval_ms)

    def collect_due(self) -> None:
        """Collect the generations whose counts passed their thresholds."""
        counts = gc.get_count()
        for generation in range(3):
            if counts[generation] <= self._threshold[generation]:
                break
            gc.collect(generation)
