"""The host's end of one kernel socket: ZMTP 3.0 spoken directly, read with byte limits.

The kernel is assumed hostile, and libzmq cannot bound what a peer makes the host buffer:
``ZMQ_MAXMSGSIZE`` limits one frame, ``ZMQ_RCVHWM`` counts whole messages, so one endless
multipart message, or many frames between two reads, grows the host without limit while
libzmq's I/O thread reads ahead. So the host does not use libzmq for the kernel's sockets:
it connects to them (the kernel keeps ipykernel's libzmq sockets) with a plain Unix socket
and speaks the ZeroMQ wire protocol itself (ZMTP 3.0, NULL mechanism: a 64-byte greeting,
a READY command, then frames of ``flags, size, body``). It reads only when the watchdog
asks, at most a given number of bytes per call, keeps at most one message of at most
``max_message`` bytes in ``max_frames`` frames, and throws away, without keeping them,
the bytes of any frame or message over those limits. Commands after the handshake are
skipped. Nothing here parses a message body: that is `_protocol`'s job, after the HMAC.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field

GREETING_BYTES = 64
_MORE, _LONG, _COMMAND = 0x01, 0x02, 0x04
_READ_CHUNK = 256 * 1024


class WireError(OSError):
    """The connection is unusable: closed, refused, or the peer broke the handshake."""


class NotListening(WireError):
    """connect(2) was refused: the path is bound but nobody listens on it, either not yet
    (a listener binds, then listens) or not any more (its process died)."""


@dataclass(frozen=True)
class Limits:
    """What one connection accepts from the kernel."""

    max_message: int
    """Bytes of all frames of one message together (also the largest frame)."""
    max_frames: int = 16
    """Frames of one message; a Jupyter message has 7 plus routing and buffers."""


@dataclass
class _Partial:
    frames: list[bytes] = field(default_factory=list)
    size: int = 0
    spoiled: str | None = None  # why the message is being thrown away


def _greeting() -> bytes:
    return b"\xff" + bytes(8) + b"\x7f" + bytes([3, 0]) + b"NULL".ljust(20, b"\0") + bytes(32)


def _frame_header(size: int, flags: int) -> bytes:
    if size > 255:
        return bytes([flags | _LONG]) + struct.pack(">Q", size)
    return bytes([flags, size])


def _command(name: bytes, properties: dict[bytes, bytes]) -> bytes:
    body = bytes([len(name)]) + name
    for key, value in properties.items():
        body += bytes([len(key)]) + key + struct.pack(">I", len(value)) + value
    return _frame_header(len(body), _COMMAND) + body


class ZmtpConnection:
    """A DEALER or SUB peer of one of the kernel's ROUTER/XPUB sockets."""

    def __init__(self, path: str, socket_type: bytes, limits: Limits, identity: bytes = b""):
        self.path = path
        self.socket_type = socket_type
        self.limits = limits
        self.identity = identity
        self.sock: socket.socket | None = None
        self.closed = False
        self._partial = _Partial()
        self._header = bytearray()  # the frame header read so far
        self._frame: int | None = None  # flags of the frame whose body is being read
        self._remaining = 0  # its bytes still to come
        self._keep = False  # False: its bytes are thrown away as they come
        self._body = bytearray()
        self.dropped: dict[str, int] = {}
        """Messages thrown away, by reason (counted for the kernel log)."""

    # -- set-up ---------------------------------------------------------------------------
    def connect(self, deadline: float) -> None:
        """Connect, exchange greetings and READY commands; raise `WireError` on a bad peer."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock = sock
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            sock.connect(self.path)
            sock.sendall(_greeting())
            greeting = self._read_exact(GREETING_BYTES, deadline)
            if greeting[0] != 0xFF or greeting[9] != 0x7F or greeting[10] < 3:
                raise WireError(f"{self.path}: the peer's greeting is not ZMTP 3")
            if greeting[12:32].rstrip(b"\0") != b"NULL":
                raise WireError(f"{self.path}: the peer wants a security mechanism")
            properties = {b"Socket-Type": self.socket_type}
            if self.identity:
                properties[b"Identity"] = self.identity
            sock.sendall(_command(b"READY", properties))
            flags = self._read_exact(1, deadline)[0]
            size_bytes = self._read_exact(8 if flags & _LONG else 1, deadline)
            size = struct.unpack(">Q", size_bytes)[0] if flags & _LONG else size_bytes[0]
            if not flags & _COMMAND or size > 4096:
                raise WireError(f"{self.path}: the peer did not answer with READY")
            ready = self._read_exact(size, deadline)
            if not ready.startswith(b"\x05READY"):
                raise WireError(f"{self.path}: the peer did not answer with READY")
            if self.socket_type == b"SUB":
                self.send([b"\x01"])  # subscribe to everything (ZMTP 3.0 form)
        except OSError as exc:  # refused: only connect(2) is, on a Unix stream socket
            self.close()
            error = NotListening if isinstance(exc, ConnectionRefusedError) else WireError
            raise error(f"{self.path}: {exc}") from None
        sock.setblocking(False)

    def _read_exact(self, count: int, deadline: float) -> bytes:
        assert self.sock is not None
        data = b""
        while len(data) < count:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise WireError(f"{self.path}: closed during the handshake")
            data += chunk
        return data

    # -- traffic --------------------------------------------------------------------------
    def fileno(self) -> int:
        """The socket's descriptor, for `select`."""
        return -1 if self.sock is None else self.sock.fileno()

    def send(self, frames: list[bytes], timeout: float = 5.0) -> None:
        """Send one message; a kernel that stops reading cannot block the host longer than
        `timeout` (the connection is then closed)."""
        if self.sock is None or self.closed:
            raise WireError(f"{self.path}: not connected")
        data = b"".join(
            _frame_header(len(frame), _MORE if i < len(frames) - 1 else 0) + frame
            for i, frame in enumerate(frames)
        )
        try:
            self.sock.settimeout(timeout)
            self.sock.sendall(data)
        except OSError as exc:
            self.close()
            raise WireError(f"{self.path}: sending failed ({exc})") from None
        finally:
            if self.sock is not None:
                self.sock.setblocking(False)

    def receive(self, max_bytes: int) -> list[list[bytes]]:
        """Read at most `max_bytes` now (never blocks) and return the complete messages."""
        if self.sock is None or self.closed:
            return []
        messages: list[list[bytes]] = []
        budget = max_bytes
        while budget > 0:
            try:
                chunk = self.sock.recv(min(_READ_CHUNK, budget))
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.close()
                break
            if not chunk:
                self.close()
                break
            budget -= len(chunk)
            self._feed(memoryview(chunk), messages)
        return messages

    def _feed(self, data: memoryview, out: list[list[bytes]]) -> None:
        pos, end = 0, len(data)
        while pos < end:
            if self._frame is None:  # reading a frame header: flags, then 1 or 8 size bytes
                if not self._header:
                    self._header.append(data[pos])
                    pos += 1
                    continue
                width = 9 if self._header[0] & _LONG else 2
                take = min(width - len(self._header), end - pos)
                self._header += data[pos : pos + take]
                pos += take
                if len(self._header) == width:
                    flags = self._header[0]
                    size = int.from_bytes(self._header[1:width], "big")
                    self._header.clear()
                    self._start_frame(flags, size)
                    if not self._remaining:
                        self._finish_frame(out)
                continue
            take = min(self._remaining, end - pos)
            if self._keep:
                self._body += data[pos : pos + take]
            pos += take
            self._remaining -= take
            if not self._remaining:
                self._finish_frame(out)

    def _start_frame(self, flags: int, size: int) -> None:
        partial = self._partial
        self._frame, self._remaining = flags, size
        if flags & _COMMAND or partial.spoiled is not None:
            self._keep = False
            return
        if size > self.limits.max_message - partial.size:
            partial.spoiled = f"over {self.limits.max_message} bytes"
        elif len(partial.frames) >= self.limits.max_frames:
            partial.spoiled = f"over {self.limits.max_frames} frames"
        if partial.spoiled is not None:
            partial.frames.clear()
        self._keep = partial.spoiled is None

    def _finish_frame(self, out: list[list[bytes]]) -> None:
        flags, self._frame = self._frame or 0, None
        if flags & _COMMAND:  # outside any message; nothing after the handshake needs one
            self._count("a command after the handshake")
            return
        partial = self._partial
        if self._keep:
            partial.frames.append(bytes(self._body))
            partial.size += len(self._body)
        self._body = bytearray()
        if flags & _MORE:
            return
        self._partial = _Partial()
        if partial.spoiled is not None:
            self._count(partial.spoiled)
        else:
            out.append(partial.frames)

    def _count(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def close(self) -> None:
        """Close the socket; later receives return nothing. Idempotent."""
        self.closed = True
        if self.sock is not None:
            self.sock.close()
            self.sock = None
