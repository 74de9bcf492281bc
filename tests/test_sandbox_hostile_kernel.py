"""A hostile kernel against the host: floods, oversized and endless frames, bad signatures,
forged replies, malformed content, shadowed names, replayed host calls.

The kernel runs with ``policy="none"`` (an attacker past the code policy): it reads its own
connection key, signs what it likes and writes raw bytes to its sockets. The host is
judged from its own side, with the bounds RR_DESIGN.md ("Message path") documents: each
`execute()` returns (never raises) within its timeout + 2 s, the host's resident memory
grows by at most 64 MB, and the next cell's result is that cell's own.

Harmless if a defence fails: every loop is bounded in time or count, the only sockets
written are the kernel's own, and nothing leaves the sandbox.
"""

from __future__ import annotations

import gc
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import skip_missing_system_package

from sandbox import Sandbox, SandboxConfig
from sandbox._sandbox import channel_limits

TIMEOUT_S = 5.0
MAX_GROWTH_MB = 64

HELPERS = """
import os, socket, threading, time
from ipykernel.kernelbase import Kernel
K = Kernel.instance()
PARENT = K._cell_parent
IDENT = list(K._cell_ident)

def signed(msg_type, content, parent=PARENT, **header):
    msg = K.session.msg(msg_type, content, parent=parent)
    msg['header'].update(header)
    return K.session.serialize(msg)

def iopub(frames):
    K.iopub_socket.send_multipart([b'stream.stdout'] + frames)

def raw(channel):
    '''The kernel's end of the host's connection to `channel` (2: IOPub, 1: shell).'''
    for name in os.listdir('/proc/self/fd'):
        try:
            sock = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue
        try:
            if (sock.family == socket.AF_UNIX and str(sock.getsockname()).endswith(f'-{channel}')
                    and not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)):
                return sock
        except OSError:
            pass
        sock.close()
    raise RuntimeError('no connection found')

def push(sock, data, seconds):
    # The fd is zmq's own, non-blocking: write what fits for at most `seconds`.
    import select
    end = time.monotonic() + seconds
    view = memoryview(data)
    while view and time.monotonic() < end:
        try:
            view = view[sock.send(view):]
        except BlockingIOError:
            select.select([], [sock], [], 0.1)
    return len(data) - len(view)
"""


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def box() -> Iterator[Sandbox]:
    if shutil.which("bwrap") is None:
        skip_missing_system_package("bubblewrap")
    config = SandboxConfig(
        policy="none", launcher="bwrap", timeout_s=TIMEOUT_S, interrupt_grace_s=0.5
    )
    with Sandbox(config) as sb:
        assert sb.execute("x = 1").ok
        yield sb


def attack(sb: Sandbox, code: str) -> tuple[object, float, float]:
    """Run `code` after the helpers; return the result, seconds taken and host RSS growth."""
    gc.collect()
    before = rss_mb()
    started = time.monotonic()
    result = sb.execute(HELPERS + code)
    took = time.monotonic() - started
    gc.collect()
    growth = rss_mb() - before
    print(f"attack: {took:.2f} s, host RSS {growth:+.1f} MB")
    assert took <= TIMEOUT_S + 2, f"execute() took {took:.1f} s"
    assert growth <= MAX_GROWTH_MB, f"host RSS grew by {growth:.0f} MB"
    return result, took, growth


def assert_still_works(sb: Sandbox) -> None:
    after = sb.execute("print('real answer')")
    assert after.stdout == "real answer\n", after


def test_a_flood_of_valid_messages_with_date_laden_headers_costs_bounded_time(box: Sandbox) -> None:
    code = """
dates = {f'date{i}': '2026-12-04T10:00:00.000000Z' for i in range(200)}
end = time.monotonic() + 30
sent = 0
while time.monotonic() < end:
    iopub(signed('stream', {'name': 'stdout', 'text': 'x'}, **dates))
    iopub(signed('stream', {'name': 'stdout', 'text': 'y'}, parent={'header': {'msg_id': 'other'}}, **dates))
    sent += 2
"""
    result, took, _growth = attack(box, code)
    assert result.timed_out and took >= TIMEOUT_S  # ended by the watchdog, not by the flood
    assert_still_works(box)


def wait_for_log(box: Sandbox, *needles: str) -> None:
    """Wait (bounded) until the kernel log holds every needle: the host counts a dropped
    message once its reader has consumed all of it, which may come after the cell's reply."""
    deadline = time.monotonic() + 15
    while not all(needle in box.kernel_log for needle in needles):
        assert time.monotonic() < deadline, box.kernel_log[-2000:]
        time.sleep(0.05)


def test_oversized_and_endless_frames_are_thrown_away_unkept(box: Sandbox) -> None:
    limit = channel_limits(box.config)["iopub"]
    code = f"""
# One frame far over IOPub's limit, then a multipart message over it in total; the pause
# lets zmq's I/O thread send them before anything else is written on that connection.
iopub([b'x' * ({limit} * 3)])
iopub([b'y' * ({limit} // 2)] * 8)
time.sleep(1.0)
"""
    result, _took, _growth = attack(box, code)
    assert result.error is None, result
    wait_for_log(box, "over", "bytes")
    assert_still_works(box)
    raw_frames = """
# Raw bytes on the connection: a frame that claims 2**40 bytes, then an endless message.
sock = raw(2)
push(sock, bytes([0x02]) + (2**40).to_bytes(8, 'big') + b'z' * (64 * 1024 * 1024), 3)
"""
    result, _took, _growth = attack(box, raw_frames)
    # The first raw frame never ends, so the connection is useless from here on; the reply
    # still comes on shell.
    assert result.error is None or result.timed_out, result
    endless = """
sock = raw(2)
chunk = bytes([0x03]) + (1024 * 1024).to_bytes(8, 'big') + b'e' * (1024 * 1024)
end = time.monotonic() + 3
while time.monotonic() < end:
    push(sock, chunk, end - time.monotonic())
"""
    attack(box, endless)
    assert_still_works(box)


def test_bad_signatures_are_refused_before_anything_is_kept(box: Sandbox) -> None:
    code = """
for _ in range(40):
    frames = signed('stream', {'name': 'stdout', 'text': 'forged'})
    frames[1] = b'f' * (1024 * 1024)
    iopub(frames)
    frames = signed('stream', {'name': 'stdout', 'text': 'forged'})
    frames[1] = b'0' * 64
    iopub(frames)
print('done')
"""
    result, _took, _growth = attack(box, code)
    assert result.stdout == "done\n" and "forged" not in result.stdout
    assert_still_works(box)  # what is still queued is read (and dropped) during this cell
    assert "bad signature" in box.kernel_log


def test_a_forged_reply_queued_between_cells_is_not_taken_for_the_next_cell(box: Sandbox) -> None:
    """The kernel queues execute replies for the requests it guesses come next (Jupyter's
    ids are session, pid and a counter); the host's ids are random and the host drops what
    does not answer the request in flight.

    900 forgeries, under the kernel's shell socket's high-water mark (1000 messages), and
    a pause for the host to take them: the socket drops what is sent past that mark, so a
    cell that floods it and ends at once can lose its own reply behind the flood (that cell
    then times out, the host unharmed). With 4500 and no pause that happened now and then,
    and under load most of the time."""
    code = """
session, pid = K.session.session, os.getpid()
for n in range(300):
    for guess in (f'{session}_{pid}_{n}', f'{n}', ''):
        reply = signed('execute_reply', {'status': 'ok', 'sandbox': {'stdout': 'FORGED'}},
                       parent={'header': {'msg_id': guess}})
        K.shell_stream.socket.send_multipart(IDENT + reply)
time.sleep(2)
print('armed')
"""
    result, _took, _growth = attack(box, code)
    assert result.stdout == "armed\n"
    for _ in range(5):
        assert_still_works(box)
    assert "not for the request in flight" in box.kernel_log


def test_malformed_content_is_skipped_and_the_cell_ends_normally(box: Sandbox) -> None:
    code = """
for content in ([1, 2], None, 'text', 7):
    msg = K.session.msg('stream', {}, parent=PARENT)
    frames = K.session.serialize(msg)
    import json
    frames[5] = json.dumps(content).encode()
    frames[1] = K.session.sign(frames[2:6])
    iopub(frames)
    K.stdin_socket.send_multipart(IDENT + frames)
print('normal end')
"""
    result, _took, _growth = attack(box, code)
    assert result.stdout == "normal end\n", result
    assert "content is not a JSON object" in box.kernel_log


def test_shadowed_names_cannot_steer_fetch_or_definitions(box: Sandbox) -> None:
    box.inject("data", {"n": 3})
    assert box.define("import json\ndef doubled():\n    return json.dumps(data['n'] * 2)\n").ok
    result = box.execute(
        "import json\nanswer = {'k': [1, 2]}\n"
        "print = lambda *a, **k: None\njson = None\nstr = None\nrepr = None\n"
        "data = {'n': 100}"
    )
    assert result.ok
    assert box.fetch("answer") == {"k": [1, 2]}
    assert box.execute("import sys\nsys.stdout.write(doubled())").stdout == "6"


def test_a_restore_never_replays_host_calls(box: Sandbox) -> None:
    calls: list[int] = []

    def counter() -> int:
        calls.append(1)
        return len(calls)

    box.register_host_function("counter", counter)
    assert box.execute("class Made:\n    number = counter()\n").ok
    assert calls == [1]
    died = box.execute("import os\nos._exit(3)")
    assert died.error is not None and died.error.type == "KernelDied"
    after = box.execute("print('alive')")
    assert after.stdout == "alive\n"
    assert calls == [1], "the restore called the host function again"
