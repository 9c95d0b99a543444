"""Work around PySide6 6.12.0 on Python 3.11: every Python ``Signal.emit`` drops a ref to ``True``.

``SignalInstance.emit`` returns ``True`` without taking a reference. On Python 3.12+ ``True`` is
immortal so nothing happens; on 3.11 each emit lowers its reference count by one, and after
roughly ten thousand emits (a day of use, or one test run) the interpreter aborts with
"Fatal Python error: bool_dealloc: deallocating True or False". :func:`install` checks whether
this PySide has the bug and, only then, wraps ``emit`` to give the reference back.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from PySide6.QtCore import QObject, Signal, SignalInstance

_PROBES = 16
_installed = False


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


def install() -> bool:
    """Patch ``SignalInstance.emit`` if this PySide6 has the bug; return whether it patched."""
    global _installed
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
