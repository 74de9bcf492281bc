"""The host's end of the kernel's Jupyter channels: shell, IOPub, stdin and control.

Each channel is one `ZmtpConnection` (`_wire`: ZMTP spoken by the host, byte-bounded) and
every message is built, signed, checked and parsed by `_protocol` (no jupyter_client
``Session`` on the host). One poll loop in the caller's thread; no heartbeat, no asyncio:
the host checks the kernel's process directly. Each poll is bounded in messages, bytes and
time, and returns only messages that answer the request in flight; everything else the
kernel sends is dropped and counted (`dropped`, shown in the sandbox's kernel log). The
connections never reconnect, so a kernel cannot swap its socket files for links to other
host sockets.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox import _protocol
from sandbox._protocol import Message
from sandbox._wire import Limits, NotListening, WireError, ZmtpConnection

PORTS = {"shell": 1, "iopub": 2, "stdin": 3, "control": 4, "hb": 5}
SOCKET_TYPES = {"shell": b"DEALER", "iopub": b"SUB", "stdin": b"DEALER", "control": b"DEALER"}
MAX_MESSAGES_PER_POLL = 256
MAX_BYTES_PER_READ = 4 * 1024 * 1024


def write_connection_file(
    path: Path, kernel_ipc_base: str, key: str, owner: int | None = None
) -> None:
    """Connection file as the kernel reads it (ports are IPC socket suffixes), owned by
    the kernel's uid `owner` when the kernel runs as another uid than the host."""
    info = {
        "transport": "ipc",
        "ip": kernel_ipc_base,
        **{f"{name}_port": port for name, port in PORTS.items()},
        "key": key,
        "signature_scheme": "hmac-sha256",
        "kernel_name": "ace-sandbox",
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    if owner is not None:
        os.fchown(fd, owner, owner)
    with os.fdopen(fd, "w") as handle:
        json.dump(info, handle)


class KernelConnection:
    """The four channels to one kernel; `poll` returns the messages for one request."""

    def __init__(self, key: str, limits: dict[str, int]) -> None:
        self.key = key.encode()
        self.session = _protocol.new_id()
        self.limits = limits
        """Largest message accepted per channel, in bytes."""
        self.host_ipc_base = ""
        self.channels: dict[str, ZmtpConnection] = {}
        self._poller = select.poll()
        self._fds: dict[int, str] = {}  # descriptor -> channel, while the channel is open
        self.dropped: dict[str, int] = {}
        """Messages from the kernel that were dropped, by reason."""

    @staticmethod
    def new_key() -> str:
        return secrets.token_hex(32)

    def sockets_ready(self) -> bool:
        """True once the kernel has bound the sockets the host uses."""
        return all(os.path.exists(f"{self.host_ipc_base}-{PORTS[name]}") for name in SOCKET_TYPES)

    def _try_connect(self, deadline: float) -> str:
        """Connect every channel; "" when done, else why a channel was not listening (no
        channel is left open then). Any other failure raises TimeoutError."""
        try:
            self.connect(deadline)
        except NotListening as exc:
            self.close()
            return str(exc)
        except WireError as exc:
            raise TimeoutError(f"kernel sockets refused the connection ({exc})") from None
        return ""

    def connect(self, deadline: float) -> None:
        """Connect every channel (the same identity on shell and stdin, as Jupyter routes
        input requests to the shell's peer)."""
        identity = self.session.encode()
        for name, kind in SOCKET_TYPES.items():
            channel = ZmtpConnection(
                f"{self.host_ipc_base}-{PORTS[name]}", kind, Limits(self.limits[name]), identity
            )
            channel.connect(deadline)
            self.channels[name] = channel
            self._fds[channel.fileno()] = name
            self._poller.register(channel.fileno(), select.POLLIN)

    def send(
        self,
        channel: str,
        msg_type: str,
        content: dict[str, Any],
        *,
        parent: Message | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Send one message; return its msg_id. A dead channel is ignored (the watchdog
        notices the kernel's state)."""
        msg_id, frames = _protocol.build(
            self.key, self.session, msg_type, content, parent=parent, metadata=metadata
        )
        target = self.channels.get(channel)
        if target is not None:
            try:
                target.send(frames)
            except WireError:
                self._count(f"{channel} channel closed")
        return msg_id

    def poll(self, timeout_s: float, expect: str | None) -> list[tuple[str, Message]]:
        """Wait up to `timeout_s` for traffic; return the messages that answer `expect`.

        At most `MAX_MESSAGES_PER_POLL` messages and `MAX_BYTES_PER_READ` bytes per channel
        are taken per call, and reading stops at the deadline, so a flood costs the
        watchdog one bounded slice of time per poll, never its deadline.
        """
        return self._read(timeout_s, expect)[0]

    def _read(self, timeout_s: float, expect: str | None) -> tuple[list[tuple[str, Message]], int]:
        deadline = time.monotonic() + max(timeout_s, 0.0)
        for fd, name in list(self._fds.items()):
            if self.channels[name].closed:
                self._poller.unregister(fd)
                del self._fds[fd]
        if not self._fds:
            time.sleep(max(timeout_s, 0.0))
            return [], 0
        try:
            ready = [fd for fd, _event in self._poller.poll(max(int(timeout_s * 1000), 0))]
        except OSError:
            return [], 0
        live = self._fds
        received: list[tuple[str, Message]] = []
        handled = 0
        for fd in ready:
            name = live[fd]
            for frames in self.channels[name].receive(MAX_BYTES_PER_READ):
                handled += 1
                decoded = _protocol.decode(self.key, frames, expect)
                if isinstance(decoded, str):
                    self._count(decoded)
                else:
                    received.append((name, decoded))
                if handled >= MAX_MESSAGES_PER_POLL or time.monotonic() > deadline:
                    break
        return received, handled + len(ready)

    def discard_pending(self, budget_s: float = 0.5) -> None:
        """Read and drop what the kernel queued since the last request (stale copies, or
        replies forged in advance), for at most `budget_s`; the rest is dropped later by
        `poll`, which only returns answers to the request in flight."""
        deadline = time.monotonic() + budget_s
        nothing = _protocol.new_id()  # no message can answer it
        while time.monotonic() < deadline and self._read(0.0, nothing)[1]:
            pass

    def _count(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def drop_report(self) -> str:
        """One line naming what was dropped from the kernel, or ""."""
        counts = dict(self.dropped)
        for name, channel in self.channels.items():
            for reason, count in channel.dropped.items():
                key = f"{name}: {reason}"
                counts[key] = counts.get(key, 0) + count
        if not counts:
            return ""
        listed = ", ".join(f"{count} {reason}" for reason, count in sorted(counts.items()))
        return f"[host] messages from the kernel dropped: {listed}"

    def wait_ready(
        self, deadline: float, alive: Callable[[], bool], locate: Callable[[], str | None]
    ) -> None:
        """Block until the kernel answers a kernel_info request; raise TimeoutError.

        `locate` gives the host path of the kernel's IPC socket base once it is known. A
        refused connect is tried again while the kernel lives: its sockets' files appear
        at bind(2), a moment before it listens (under load, long enough to be seen).
        """
        refused = ""
        while True:
            base = locate()
            if base is not None:
                self.host_ipc_base = base
                if self.sockets_ready():
                    refused = self._try_connect(deadline)
                    if not refused:
                        break
            if time.monotonic() > deadline or not alive():
                if refused:
                    raise TimeoutError(f"kernel sockets refused the connection ({refused})")
                raise TimeoutError("kernel did not bind its sockets")
            time.sleep(0.005)
        msg_id = self.send("shell", "kernel_info_request", {})
        while time.monotonic() < deadline and alive():
            for channel, _msg in self.poll(0.05, msg_id):
                if channel == "shell":
                    return
        raise TimeoutError("kernel did not answer kernel_info_request")

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()
        self.channels = {}
        self._fds = {}
        self._poller = select.poll()
