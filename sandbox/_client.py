"""The host's end of the kernel's Jupyter channels: shell, IOPub, stdin and control.

Plain zmq sockets and a jupyter_client `Session` (JSON packing, HMAC-signed), driven by
one poll loop in the caller's thread. No heartbeat thread, no asyncio: the host checks the
kernel's process directly. Incoming messages are size-capped (MAXMSGSIZE) and the sockets
never reconnect, so a kernel cannot swap its socket files for links to other host sockets.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq
from jupyter_client.session import Session

PORTS = {"shell": 1, "iopub": 2, "stdin": 3, "control": 4, "hb": 5}
SOCKET_TYPES = {"shell": zmq.DEALER, "iopub": zmq.SUB, "stdin": zmq.DEALER, "control": zmq.DEALER}

Message = dict[str, Any]


def _packer() -> str:
    try:
        import orjson  # noqa: F401
    except ImportError:
        return "json"
    return "orjson"


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
    """Sockets to one kernel; `poll` returns the decoded messages that arrived."""

    def __init__(self, key: str, max_message_bytes: int) -> None:
        self.host_ipc_base = ""
        self.session = Session(
            key=key.encode(),
            signature_scheme="hmac-sha256",
            packer=_packer(),
            unpacker=_packer(),
            username="sandbox-host",
        )
        self.max_message_bytes = max_message_bytes
        self.context: zmq.Context[zmq.Socket[bytes]] | None = None
        self.sockets: dict[str, zmq.Socket[bytes]] = {}
        self.poller = zmq.Poller()

    @staticmethod
    def new_key() -> str:
        return secrets.token_hex(32)

    def sockets_ready(self) -> bool:
        """True once the kernel has bound the sockets the host uses."""
        return all(os.path.exists(f"{self.host_ipc_base}-{PORTS[name]}") for name in SOCKET_TYPES)

    def connect(self) -> None:
        self.context = zmq.Context()
        for name, kind in SOCKET_TYPES.items():
            sock = self.context.socket(kind)
            sock.linger = 0
            sock.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
            sock.setsockopt(zmq.RECONNECT_IVL, -1)
            if name in ("shell", "stdin"):
                sock.setsockopt(zmq.IDENTITY, self.session.bsession)
            if name == "iopub":
                sock.setsockopt(zmq.SUBSCRIBE, b"")
            sock.connect(f"ipc://{self.host_ipc_base}-{PORTS[name]}")
            self.sockets[name] = sock
            self.poller.register(sock, zmq.POLLIN)

    def send(
        self,
        channel: str,
        msg_type: str,
        content: dict[str, Any],
        *,
        parent: Message | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Send one message; return its msg_id."""
        msg = self.session.msg(msg_type, content, parent=parent, metadata=metadata)
        self.session.send(self.sockets[channel], msg)
        return str(msg["header"]["msg_id"])

    def poll(self, timeout_s: float) -> list[tuple[str, Message]]:
        """Wait up to `timeout_s` for messages; return every message now waiting."""
        events = dict(self.poller.poll(max(int(timeout_s * 1000), 0)))
        received: list[tuple[str, Message]] = []
        for name, sock in self.sockets.items():
            if sock not in events:
                continue
            while True:
                try:
                    _idents, msg = self.session.recv(sock, mode=zmq.NOBLOCK)
                except zmq.ZMQError:
                    break
                except Exception:  # bad signature or bad JSON from the kernel: drop it
                    continue
                if msg is None:
                    break
                received.append((name, msg))
        return received

    def wait_ready(
        self, deadline: float, alive: Callable[[], bool], locate: Callable[[], str | None]
    ) -> None:
        """Block until the kernel answers a kernel_info request; raise TimeoutError.

        `locate` gives the host path of the kernel's IPC socket base once it is known.
        """
        while True:
            base = locate()
            if base is not None:
                self.host_ipc_base = base
                if self.sockets_ready():
                    break
            if time.monotonic() > deadline or not alive():
                raise TimeoutError("kernel did not bind its sockets")
            time.sleep(0.005)
        self.connect()
        msg_id = self.send("shell", "kernel_info_request", {})
        while time.monotonic() < deadline and alive():
            for channel, msg in self.poll(0.05):
                if channel == "shell" and msg.get("parent_header", {}).get("msg_id") == msg_id:
                    return
        raise TimeoutError("kernel did not answer kernel_info_request")

    def close(self) -> None:
        for sock in self.sockets.values():
            with contextlib.suppress(Exception):
                self.poller.unregister(sock)
            sock.close(linger=0)
        self.sockets = {}
        if self.context is not None:
            self.context.term()
            self.context = None
