"""Child-process entry: run llama.cpp's server, and exit when the parent process is gone.

``python -m ace.local_model._serve --parent-pid PID [--log PATH] -- <llama_cpp.server
arguments>``. The parent stops the server at exit (and deletes its log); this watchdog
covers the exits where it cannot (SIGKILL, a crash), so no 1 GB server outlives the
process that started it and no log is left behind.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
import time

_POLL_S = 1.0


USAGE = "usage: python -m ace.local_model._serve --parent-pid PID [--log PATH] -- SERVER_ARGS..."


def _watch_parent(parent_pid: int, log: str | None) -> None:
    while True:
        # Reparenting (to init or a subreaper) is how a child learns its parent died.
        if os.getppid() != parent_pid:
            if log is not None:
                with contextlib.suppress(OSError):
                    os.unlink(log)
            os._exit(0)
        time.sleep(_POLL_S)


def main(argv: list[str]) -> None:
    """Start the parent watchdog, then hand ``argv`` after ``--`` to llama.cpp's server."""
    try:
        split = argv.index("--")
    except ValueError:
        sys.exit(USAGE)
    own, server_args = argv[:split], argv[split + 1 :]
    if len(own) not in (2, 4) or own[0] != "--parent-pid" or own[2:3] not in ([], ["--log"]):
        sys.exit(USAGE)
    parent_pid = int(own[1])
    log = own[3] if len(own) == 4 else None
    if parent_pid > 0:
        threading.Thread(target=_watch_parent, args=(parent_pid, log), daemon=True).start()
    sys.argv = ["llama_cpp.server", *server_args]
    importlib.import_module("llama_cpp.server.__main__").main()


if __name__ == "__main__":
    main(sys.argv[1:])
