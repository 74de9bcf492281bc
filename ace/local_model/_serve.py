"""Child-process entry: run llama.cpp's server, and exit when the parent process is gone.

``python -m ace.local_model._serve --parent-pid PID -- <llama_cpp.server arguments>``.
The parent stops the server at exit; this watchdog covers the exits where it cannot
(SIGKILL, a crash), so no 1 GB server outlives the process that started it.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time

_POLL_S = 1.0


def _watch_parent(parent_pid: int) -> None:
    while True:
        # Reparenting (to init or a subreaper) is how a child learns its parent died.
        if os.getppid() != parent_pid:
            os._exit(0)
        time.sleep(_POLL_S)


def main(argv: list[str]) -> None:
    """Start the parent watchdog, then hand ``argv`` after ``--`` to llama.cpp's server."""
    if len(argv) < 3 or argv[0] != "--parent-pid" or argv[2] != "--":
        sys.exit("usage: python -m ace.local_model._serve --parent-pid PID -- SERVER_ARGS...")
    parent_pid = int(argv[1])
    if parent_pid > 0:
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    sys.argv = ["llama_cpp.server", *argv[3:]]
    importlib.import_module("llama_cpp.server.__main__").main()


if __name__ == "__main__":
    main(sys.argv[1:])
