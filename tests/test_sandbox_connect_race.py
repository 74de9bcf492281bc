"""The host connects to a kernel whose socket files exist before it listens.

A listener binds its path (the file appears) and listens a moment later; a connect in
between is refused. Under load that moment was long enough for the host to take a
starting kernel for a dead one, kill it, and report "kernel sockets refused the
connection" (unshare then printing "sigprocmask unblock failed" for its killed child).
Here a peer holds its paths bound but not listening for a while, then serves like a kernel.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import zmq

from sandbox import SandboxConfig, _protocol
from sandbox._client import PORTS, SOCKET_TYPES, KernelConnection
from sandbox._sandbox import channel_limits
from sandbox._wire import Limits, NotListening, ZmtpConnection

_PEER_TYPES = {"shell": zmq.ROUTER, "iopub": zmq.PUB, "stdin": zmq.ROUTER, "control": zmq.ROUTER}


@pytest.fixture
def base() -> Iterator[str]:
    folder = Path(tempfile.mkdtemp(prefix="sbx-race-", dir="/tmp"))  # short socket paths
    yield str(folder / "k")
    shutil.rmtree(folder, ignore_errors=True)


def _bound_not_listening(base: str) -> list[socket.socket]:
    held = []
    for name in SOCKET_TYPES:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(f"{base}-{PORTS[name]}")
        held.append(sock)
    return held


def _late_kernel(base: str, key: str, held: list[socket.socket], stop: threading.Event) -> None:
    """After 0.4 s, listen on the paths (as a kernel) and answer one kernel_info_request."""
    time.sleep(0.4)
    for sock in held:
        path = sock.getsockname()
        sock.close()
        Path(path).unlink()
    context = zmq.Context()
    peers = {}
    for name, kind in _PEER_TYPES.items():
        peers[name] = context.socket(kind)
        peers[name].setsockopt(zmq.LINGER, 0)
        peers[name].bind(f"ipc://{base}-{PORTS[name]}")
    try:
        shell = peers["shell"]
        if shell.poll(10_000):
            frames = shell.recv_multipart()
            start = frames.index(_protocol.DELIMITER) + 1
            request = {"header": orjson.loads(frames[start + 1])}
            _msg_id, reply = _protocol.build(
                key.encode(), "fake-kernel", "kernel_info_reply", {}, parent=request
            )
            shell.send_multipart([*frames[: start - 1], *reply])
        stop.wait(10)
    finally:
        for peer in peers.values():
            peer.close()
        context.term()


def test_a_refused_connect_is_tried_again_while_the_kernel_lives(base: str) -> None:
    key = KernelConnection.new_key()
    held = _bound_not_listening(base)
    stop = threading.Event()
    kernel = threading.Thread(target=_late_kernel, args=(base, key, held, stop), daemon=True)
    kernel.start()
    connection = KernelConnection(key, channel_limits(SandboxConfig()))
    started = time.monotonic()
    try:
        connection.wait_ready(started + 10, lambda: True, lambda: base)
        assert time.monotonic() - started >= 0.4  # it did wait for the listener
        assert set(connection.channels) == set(SOCKET_TYPES)
    finally:
        stop.set()
        connection.close()
        kernel.join(15)


def test_a_kernel_that_never_listens_ends_as_refused_when_it_dies(base: str) -> None:
    held = _bound_not_listening(base)
    connection = KernelConnection(KernelConnection.new_key(), channel_limits(SandboxConfig()))
    dies_at = time.monotonic() + 0.3
    try:
        with pytest.raises(TimeoutError, match="kernel sockets refused the connection"):
            connection.wait_ready(
                time.monotonic() + 10, lambda: time.monotonic() < dies_at, lambda: base
            )
        assert time.monotonic() >= dies_at and not connection.channels
    finally:
        for sock in held:
            sock.close()


def test_a_refused_connect_is_its_own_error(base: str) -> None:
    held = _bound_not_listening(base)
    try:
        channel = ZmtpConnection(f"{base}-1", b"DEALER", Limits(1024), b"x")
        with pytest.raises(NotListening):
            channel.connect(time.monotonic() + 1)
        assert channel.closed
    finally:
        for sock in held:
            sock.close()
