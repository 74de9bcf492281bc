"""Leave no kernel behind when the host process ends: normal exit, an exception, or SIGTERM.

Every `Sandbox` and `SandboxPool` registers here (weakly). At interpreter exit (`atexit`,
which also runs after an uncaught exception) and on SIGTERM, pools stop refilling and every
live sandbox kills its process tree and removes its cgroup and run directory. Under
bubblewrap the kernels would die with the host even on SIGKILL (``--die-with-parent``); this
module also cleans up the files and cgroups, and covers the weaker launchers.

The SIGTERM handler is installed by the first `SandboxPool` created in the main thread
(Python only lets the main thread set handlers; a pool created elsewhere relies on atexit,
and a process killed by SIGTERM without a handler runs no atexit). It chains to the handler
that was there before: a Python handler is called after the clean-up; the default action is
restored and the signal re-raised, so the process still ends "killed by SIGTERM"; an
ignored SIGTERM stays ignored.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
import weakref
from types import FrameType
from typing import Any, Protocol


class _Closable(Protocol):
    def close(self) -> None: ...


_lock = threading.Lock()
_pools: weakref.WeakSet[Any] = weakref.WeakSet()
_sandboxes: weakref.WeakSet[Any] = weakref.WeakSet()
_atexit_installed = False
_sigterm_installed = False
_previous_sigterm: Any = None


def track_sandbox(sandbox: _Closable) -> None:
    """Close `sandbox` when the host exits (if it is still alive then)."""
    _sandboxes.add(sandbox)


def track_pool(pool: _Closable) -> None:
    """Close `pool` when the host exits, and install the exit and SIGTERM hooks once."""
    global _atexit_installed, _sigterm_installed, _previous_sigterm
    _pools.add(pool)
    with _lock:
        if not _atexit_installed:
            atexit.register(close_all)
            _atexit_installed = True
        if not _sigterm_installed and threading.current_thread() is threading.main_thread():
            _previous_sigterm = signal.getsignal(signal.SIGTERM)
            signal.signal(signal.SIGTERM, _on_sigterm)
            _sigterm_installed = True


def close_all() -> None:
    """Close every pool (first, so none refills), then every sandbox still open."""
    for closable in [*list(_pools), *list(_sandboxes)]:
        with contextlib.suppress(Exception):
            closable.close()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    close_all()
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_IGN:
        return
    else:  # SIG_DFL, or None (set outside Python): end the way the process would have
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
