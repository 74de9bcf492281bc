"""Unprivileged host uids for kernels started by a root host: one per kernel, machine-wide.

When the host runs as root, bubblewrap's user namespace maps the kernel's uid to host uid
0, and the kernel then passes every check that compares its uid with root's: writable
``/proc/sys`` files, the host root's keyrings, root-owned files. Each kernel therefore
runs as its own uid from a reserved range, so kernels share no RLIMIT_NPROC count, no
user keyring and no file ownership with the host or with each other. A slot is held by
an ``flock`` on a file named after the uid, so host processes on one machine never hand
out the same uid twice; the lock dies with its holder, so a crashed host frees its slots.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

UID_BASE = 1_879_048_192
"""First uid of the range (0x70000000): far above login uids and the 100000-based ranges
that ``/etc/subuid`` hands to rootless containers, below 2**31 so no tool sees it as
negative."""
UID_COUNT = 4096
"""Kernels that can run at once on one machine."""


def lock_dir() -> Path:
    """Where the slot locks live: a root-only folder under /run, else under /tmp."""
    base = Path("/run") if os.path.isdir("/run") and os.access("/run", os.W_OK) else Path("/tmp")
    return base / "ace-sandbox-uids"


class UidSlot:
    """One uid of the range, held until `release` (or this process's exit)."""

    def __init__(self, uid: int, handle: int) -> None:
        self.uid = uid
        self._handle: int | None = handle

    @classmethod
    def acquire(cls) -> UidSlot:
        """The first free uid of the range; raises ``OSError`` when all are taken."""
        folder = lock_dir()
        folder.mkdir(mode=0o700, exist_ok=True)
        if folder.is_symlink() or folder.stat().st_uid != os.geteuid():
            raise OSError(f"{folder} is not a folder of this user; refusing to use it")
        for uid in range(UID_BASE, UID_BASE + UID_COUNT):
            handle = os.open(folder / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(handle)
                continue
            return cls(uid, handle)
        raise OSError(f"all {UID_COUNT} sandbox uids from {UID_BASE} are in use")

    def release(self) -> None:
        """Free the uid for another kernel. Idempotent."""
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(OSError):
                os.close(handle)

    def __repr__(self) -> str:
        return f"UidSlot({self.uid})"
