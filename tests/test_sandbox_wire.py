"""The host's ZMTP reader on its own: any split of the byte stream gives the same messages,
and what is over a limit is thrown away, counted, and never kept."""

from __future__ import annotations

import socket
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox import _protocol
from sandbox._wire import Limits, ZmtpConnection


def encode(frames: list[bytes]) -> bytes:
    out = b""
    for i, frame in enumerate(frames):
        more = 1 if i < len(frames) - 1 else 0
        if len(frame) > 255:
            out += bytes([more | 2]) + struct.pack(">Q", len(frame))
        else:
            out += bytes([more, len(frame)])
        out += frame
    return out


def reader(limits: Limits) -> tuple[ZmtpConnection, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    connection = ZmtpConnection("socketpair", b"DEALER", limits)
    connection.sock = ours
    return connection, theirs


messages = st.lists(
    st.lists(st.binary(max_size=600), min_size=1, max_size=5), min_size=1, max_size=6
)


@settings(max_examples=60, deadline=None)
@given(messages, st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=50))
def test_any_split_of_the_stream_gives_the_same_messages(
    sent: list[list[bytes]], cuts: list[int]
) -> None:
    connection, peer = reader(Limits(max_message=10_000))
    data = b"".join(encode(m) for m in sent)
    got: list[list[bytes]] = []
    position, i = 0, 0
    while position < len(data):
        step = cuts[i % len(cuts)]
        peer.sendall(data[position : position + step])
        position += step
        i += 1
        got += connection.receive(1 << 20)
    got += connection.receive(1 << 20)
    assert got == sent
    assert connection.dropped == {}


def test_over_limit_frames_and_messages_are_dropped_and_the_stream_goes_on() -> None:
    connection, peer = reader(Limits(max_message=1000, max_frames=3))
    peer.sendall(encode([b"a" * 2000]))  # one frame over the limit
    peer.sendall(encode([b"b" * 600, b"c" * 600]))  # over in total
    peer.sendall(encode([b"d"] * 4))  # over in frames
    peer.sendall(bytes([0x04, 3]) + b"cmd")  # a command frame
    peer.sendall(encode([b"kept", b"too"]))
    got = []
    for _ in range(5):
        got += connection.receive(1 << 20)
    assert got == [[b"kept", b"too"]]
    assert connection.dropped == {
        "over 1000 bytes": 2,
        "over 3 frames": 1,
        "a command after the handshake": 1,
    }


def test_a_huge_frame_is_skipped_without_being_kept() -> None:
    connection, peer = reader(Limits(max_message=1024))
    peer.sendall(bytes([0x02]) + struct.pack(">Q", 50_000_000))
    sent = 0
    while sent < 8_000_000:
        peer.sendall(b"z" * 65536)
        sent += 65536
        assert connection.receive(1 << 20) == []
        assert len(connection._body) == 0  # nothing of the frame is held
    peer.close()
    assert connection.receive(1 << 20) == []


def test_decode_checks_the_signature_before_parsing_and_the_parent_before_the_content() -> None:
    key = b"k" * 32
    msg_id, _frames = _protocol.build(key, "s", "execute_reply", {"status": "ok"})
    _reply_id, reply = _protocol.build(
        key, "s", "stream", {"t": 1}, parent={"header": {"msg_id": msg_id}}
    )
    assert isinstance(_protocol.decode(key, reply, msg_id), dict)
    assert _protocol.decode(key, reply, "other") == "not for the request in flight"
    forged = list(reply)
    forged[5] = b"[1, 2]"
    assert _protocol.decode(key, forged, msg_id) == "bad signature"
    resigned = [*forged[:1], _protocol.signature(key, forged[2:6]), *forged[2:6]]
    assert _protocol.decode(key, resigned, msg_id) == "content is not a JSON object"
    assert _protocol.decode(key, [b"x"] * 7, None) == "no delimiter"
    huge_sig = [reply[0], b"0" * 10_000, *reply[2:]]
    assert _protocol.decode(key, huge_sig, msg_id) == "bad signature"
    assert len({_protocol.new_id() for _ in range(1000)}) == 1000
