"""One cell's round trip under the watchdog: send, serve host calls, cap output, time out.

The wall clock pauses while a host call runs on the host (a slow sub-LLM call is not the
cell's fault). At the deadline the kernel gets an interrupt request; if the cell does not
end within the grace period (it ignores SIGINT, or is stuck in C code), the caller must
kill the whole tree and restart. A kernel process that ends mid-cell is reported, too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sandbox._client import KernelConnection
from sandbox._hostcall import HostFunctions
from sandbox._process import KernelProcess
from sandbox._protocol import Message
from sandbox.results import CellError, ExecutionResult

POLL_S = 0.1
MAX_ERROR_CHARS = 20_000


@dataclass
class Outcome:
    """What `run_cell` saw; `kill_needed` asks the caller to kill and restart the kernel."""

    result: ExecutionResult
    extra: dict[str, Any] = field(default_factory=dict)
    kill_needed: bool = False


def cut_output(stdout: str, stderr: str, dropped: int, cap: int | None) -> tuple[str, str, int]:
    """Apply the host's own cap (the kernel's is not trusted) and add the marker."""
    if cap is not None and len(stdout) + len(stderr) > cap:
        keep_out = min(len(stdout), cap)
        keep_err = max(cap - keep_out, 0)
        dropped += len(stdout) - keep_out + len(stderr) - keep_err
        stdout, stderr = stdout[:keep_out], stderr[:keep_err]
    if dropped:
        stdout += f"\n[... output truncated: {dropped} more characters were cut ...]\n"
    return stdout, stderr, dropped


def _text(value: object, limit: int | None = None) -> str:
    text = value if isinstance(value, str) else ""
    return text if limit is None else text[:limit]


def run_cell(
    connection: KernelConnection,
    process: KernelProcess,
    functions: HostFunctions,
    code: str,
    op: dict[str, Any] | None,
    *,
    timeout: float | None,
    grace: float,
    max_output: int | None,
) -> Outcome:
    """Execute `code` (or the host operation `op`) and wait for its end under the watchdog."""
    connection.discard_pending()  # before the clock starts: stale traffic is not the cell's
    started = time.monotonic()
    content = {
        "code": code,
        "silent": True,
        "store_history": False,
        "user_expressions": {},
        "allow_stdin": True,
        "stop_on_error": False,
    }
    metadata = {"sandbox_op": op} if op is not None else {}
    msg_id = connection.send("shell", "execute_request", content, metadata=metadata)
    deadline = float("inf") if timeout is None else started + timeout
    interrupted_at: float | None = None
    calls, call_time = 0, 0.0
    partial: dict[str, list[str]] = {"stdout": [], "stderr": []}
    partial_chars = 0
    reply: Message | None = None

    def finish(error: CellError | None, stdout: str, stderr: str, dropped: int, **kw: Any) -> Any:
        out, err, cut = cut_output(stdout, stderr, dropped, max_output)
        return ExecutionResult(
            stdout=out,
            stderr=err,
            error=error,
            duration_s=time.monotonic() - started,
            truncated_chars=cut,
            host_calls=calls,
            host_call_s=call_time,
            **kw,
        )

    while reply is None:
        now = time.monotonic()
        if interrupted_at is None and now >= deadline:
            connection.send("control", "interrupt_request", {})
            interrupted_at = now
        if interrupted_at is not None and now >= interrupted_at + grace:
            message = (
                f"the cell exceeded its {timeout} s wall-clock limit and did not stop when "
                "interrupted; the kernel was killed and restarted"
            )
            result = finish(
                CellError("SandboxTimeout", message),
                "".join(partial["stdout"]),
                "".join(partial["stderr"]),
                0,
                timed_out=True,
                restarted=True,
            )
            return Outcome(result, kill_needed=True)
        limit = deadline if interrupted_at is None else interrupted_at + grace
        for channel, msg in connection.poll(min(POLL_S, max(limit - now, 0.0)), msg_id):
            kind = msg["header"]["msg_type"]
            if channel == "stdin" and kind == "input_request":
                prompt = msg["content"].get("prompt")
                answer, spent = functions.handle(prompt)
                connection.send("stdin", "input_reply", {"value": answer}, parent=msg)
                calls, call_time = calls + 1, call_time + spent
                deadline += spent
            elif channel == "iopub" and kind == "stream":
                stream = msg["content"].get("name")
                text = _text(msg["content"].get("text"))
                if stream in partial and (max_output is None or partial_chars < max_output):
                    partial[stream].append(text)
                    partial_chars += len(text)
            elif channel == "shell" and kind == "execute_reply":
                reply = msg
                break
        if reply is None and not process.alive():
            message = f"the kernel process died during the cell ({process.exit_description()})"
            result = finish(
                CellError("KernelDied", message),
                "".join(partial["stdout"]),
                "".join(partial["stderr"]),
                0,
                restarted=True,
            )
            return Outcome(result, kill_needed=True)

    body = reply.get("content", {})
    box = body.get("sandbox") if isinstance(body.get("sandbox"), dict) else {}
    raw_dropped = box.get("dropped")
    dropped = raw_dropped if isinstance(raw_dropped, int) else 0
    error = None
    timed_out = interrupted_at is not None
    if body.get("status") != "ok":
        tb = body.get("traceback")
        error = CellError(
            _text(body.get("ename"), 200) or "Error",
            _text(body.get("evalue"), MAX_ERROR_CHARS),
            "".join(t for t in tb if isinstance(t, str))[-MAX_ERROR_CHARS:]
            if isinstance(tb, list)
            else "",
        )
        if timed_out:
            error = CellError(
                "SandboxTimeout",
                f"the cell exceeded its {timeout} s wall-clock limit and was interrupted; "
                "the namespace is intact",
                error.traceback,
            )
    extra = {k: v for k, v in box.items() if k not in ("stdout", "stderr", "dropped")}
    result = finish(
        error,
        _text(box.get("stdout")),
        _text(box.get("stderr")),
        max(dropped, 0),
        timed_out=timed_out,
    )
    return Outcome(result, extra)
