"""The kernel that runs inside the walls: a minimal Jupyter kernel, no IPython shell.

Runs each cell through the code policy (or plain exec with policy "none") in one persistent
namespace, captures stdout/stderr into a per-cell capped buffer that travels back inside the
execute reply, and turns calls of host-function stubs into input requests on the stdin
channel. The host drives it with execute requests whose metadata may carry a
``sandbox_op`` instead of user code: inject, register, probe, restore, and two that must
not be steered by what cells left in the namespace: ``fetch`` (a global's value as JSON
text, serialised here and returned in the reply, never printed) and ``define`` (host
definitions run in a clean namespace, then published into the session's). After each user
cell, a `StateRecorder` adds to the reply what the host needs to restore the session's state
in a new kernel after this one dies.

Everything here runs inside the sandbox; nothing in it is trusted by the host.
"""

from __future__ import annotations

import builtins
import contextlib
import gc
import io
import json
import mmap
import os
import sys
import threading
import time
import traceback
from types import SimpleNamespace
from typing import Any

import zmq
from ipykernel.kernelapp import IPKernelApp
from ipykernel.kernelbase import Kernel

from sandbox._kernel_state import StateRecorder
from sandbox._text import clean_json, clean_text

SETTINGS_ENV = "SANDBOX_KERNEL_SETTINGS"
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
FLUSH_INTERVAL_S = 0.25
MAX_MESSAGE_CHARS = 10_000
MAX_TRACEBACK_CHARS = 20_000


class HostFunctionError(Exception):
    """A host function refused the call or raised; the message says which and why."""


class PolicyUnavailable(Exception):
    """The restricted code policy could not be loaded."""


class CellOutput:
    """stdout and stderr of the running cell, kept up to a shared character cap.

    The whole capped text returns in the execute reply; copies of new text are also
    streamed on IOPub so that the host keeps partial output of a cell it has to kill.
    """

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.lock = threading.Lock()
        self.parts: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self.unsent: list[tuple[str, str]] = []
        self.kept = 0
        self.dropped = 0

    def write(self, name: str, text: str) -> None:
        with self.lock:
            room = len(text) if self.cap is None else max(self.cap - self.kept, 0)
            piece = text if room >= len(text) else text[:room]
            self.dropped += len(text) - len(piece)
            if piece:
                self.kept += len(piece)
                self.parts[name].append(piece)
                self.unsent.append((name, piece))

    def take_unsent(self) -> list[tuple[str, str]]:
        with self.lock:
            unsent, self.unsent = self.unsent, []
        return unsent

    def take_all(self) -> tuple[str, str, int]:
        with self.lock:
            result = ("".join(self.parts["stdout"]), "".join(self.parts["stderr"]), self.dropped)
            self.parts = {"stdout": [], "stderr": []}
            self.unsent, self.kept, self.dropped = [], 0, 0
        return result


class CapturedStream(io.TextIOBase):
    """A text stream (sys.stdout or sys.stderr) that writes into the cell's `CellOutput`."""

    def __init__(self, name: str, output: CellOutput) -> None:
        super().__init__()
        self._name = name
        self._output = output

    encoding = "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._output.write(self._name, clean_text(text))
        return len(text)


def _message(exc: BaseException) -> str:
    """str(exc), which is cell code for a cell's exception class and may itself fail."""
    try:
        return str(exc)
    except Exception as inner:
        return f"<the exception's message could not be read: {type(inner).__name__}>"


def _format_traceback(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(PACKAGE_DIR):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return clean_text(text[-MAX_TRACEBACK_CHARS:])


def _as_json(namespace: dict[str, Any], name: str, max_bytes: int) -> str:
    """Global `name` as JSON text, serialised by this module (not by anything a cell bound):
    orjson with non-JSON leaves as ``str()``, at most `max_bytes`."""
    if name not in namespace:
        raise NameError(f"name {name!r} is not defined")
    import orjson

    value = namespace[name]
    try:
        data = orjson.dumps(value, default=str)
    except orjson.JSONEncodeError:
        # Lone surrogates (not UTF-8) or integers beyond 64 bits: clean, then once more.
        try:
            data = orjson.dumps(clean_json(value), default=str)
        except (TypeError, ValueError, RecursionError, OverflowError) as exc:
            raise ValueError(f"{name!r} cannot be written as JSON: {exc}") from None
    if len(data) > max_bytes:
        raise ValueError(f"{name!r} is {len(data)} bytes of JSON, over the {max_bytes}-byte limit")
    return data.decode()


def _load_json_file(path: str) -> Any:
    """Parse a JSON file the host wrote, near the speed of `orjson.loads` on bytes in memory.

    The file is mapped, not read (no second copy of the bytes), and the cyclic garbage
    collector is paused while the parser allocates millions of containers: with it on, each
    generation-0 pass walks the young objects and the full passes walk the growing heap
    (measured 2.4x slower for 100 MB). The result is then frozen (moved out of the GC's
    generations), so the collections of later cells do not walk the whole trace either;
    JSON data holds no cycles, so reference counting still frees it when it is replaced.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return _parse_json(b"")
            with (
                mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ) as mapped,
                memoryview(mapped) as view,
            ):
                return _parse_json(view)
    finally:
        if enabled:
            gc.enable()
        gc.freeze()


def _parse_json(data: bytes | memoryview) -> Any:
    try:
        import orjson
    except ImportError:
        return json.loads(bytes(data))
    return orjson.loads(data)


class SandboxKernel(Kernel):
    """Jupyter kernel that executes cells under the sandbox's policy; no shell, no magics."""

    implementation = "ace-sandbox"
    implementation_version = "1"
    banner = "ace sandbox kernel"
    language_info = {  # noqa: RUF012 (traitlets class attribute, as in ipykernel)
        "name": "python",
        "version": sys.version.split()[0],
        "mimetype": "text/x-python",
        "file_extension": ".py",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        settings = json.loads(os.environ.get(SETTINGS_ENV, "{}"))
        self._policy_mode: str = settings.get("policy", "restricted")
        self._max_request = int(settings.get("max_request_bytes", 8 * 1024 * 1024))
        self._output = CellOutput(settings.get("max_output_chars"))
        self._recorder = StateRecorder(settings.get("restore_max_bytes"))
        self._cell_state: dict[str, Any] = {}
        sys.stdout = CapturedStream("stdout", self._output)
        sys.stderr = CapturedStream("stderr", self._output)
        self._policy: Any = None
        self._namespace: dict[str, Any] | None = None
        self._cell_parent: dict[str, Any] = {}
        self._cell_ident: Any = b""
        self._cell_active = False
        self._host_names: dict[str, Any] = {}
        """What the host put in the namespace (injected data, host-function stubs)."""
        self._host_calls = True
        """False while a restore runs: host calls are never replayed."""
        threading.Thread(target=self._flush_loop, name="sandbox-flush", daemon=True).start()
        # Built now (~50 ms: RestrictedPython and the guards), before the host measures or a
        # pool hands the kernel out, not in the session's first cell. A failure is reported
        # by that first cell as PolicyUnavailable.
        with contextlib.suppress(PolicyUnavailable):
            self._get_namespace()
        with contextlib.suppress(ImportError):
            import orjson  # noqa: F401  (the first injection should not pay the import)

    # -- output -------------------------------------------------------------------------
    def _send_copies(self) -> None:
        for name, text in self._output.take_unsent():
            assert self.session is not None
            self.session.send(
                self.iopub_socket,
                "stream",
                {"name": name, "text": text},
                parent=self._cell_parent,
                ident=self._topic("stream"),  # type: ignore[no-untyped-call]
            )

    def _flush_loop(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL_S)
            if self._cell_active and self._output.unsent:
                # Copies are best effort: the execute reply carries the whole output.
                with contextlib.suppress(Exception):
                    self._send_copies()

    # -- namespace and policy -----------------------------------------------------------
    def _get_namespace(self) -> dict[str, Any]:
        if self._namespace is None:
            if self._policy_mode == "restricted":
                try:
                    from sandbox._policy import CellPolicy  # type: ignore[import-not-found,unused-ignore]
                except Exception as exc:
                    raise PolicyUnavailable(
                        f"policy module unavailable: cannot load sandbox._policy "
                        f"({type(exc).__name__}: {exc})"
                    ) from None
                self._policy = CellPolicy()
                self._namespace = self._policy.new_namespace()
            else:
                self._namespace = {"__name__": "__sandbox__", "__builtins__": builtins}
            self._namespace["HostFunctionError"] = HostFunctionError
            self._recorder.keep("HostFunctionError", HostFunctionError)
        return self._namespace

    def _run_cell(
        self, code: str, filename: str = "<cell>", namespace: dict[str, Any] | None = None
    ) -> None:
        if namespace is None:
            namespace = self._get_namespace()
        if self._policy is not None:
            compiled = self._policy.compile(code, filename)
            self._policy.exec(compiled, namespace)
        else:
            exec(compile(code, filename, "exec"), namespace)

    def _run_user_cell(self, code: str) -> None:
        """Run a cell of the session; leave the state delta for the host in `_cell_state`."""
        namespace = self._get_namespace()
        record = self._recorder.before(code, namespace)
        ok = False
        try:
            self._run_cell(code)
            ok = True
        finally:
            # Also after an exception: definitions that ran before it are still bound.
            try:
                self._cell_state = self._recorder.after(record, namespace, ok)
            except Exception:
                self._cell_state = {}

    # -- host calls ---------------------------------------------------------------------
    def _make_stub(self, name: str) -> Any:
        kernel = self

        def stub(*args: Any, **kwargs: Any) -> Any:
            return kernel.host_call(name, list(args), kwargs)

        stub.__name__ = stub.__qualname__ = name
        stub.__doc__ = f"Call the host function {name!r}: JSON arguments in, JSON result out."
        return stub

    def host_call(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Send one call to the host over the stdin channel and wait for its reply."""
        if not self._cell_active or threading.current_thread() is not threading.main_thread():
            raise HostFunctionError(
                f"host function {name!r} can only be called from the cell itself, while it runs"
            )
        if not self._host_calls:
            raise HostFunctionError(
                f"host function {name!r} is disabled while the session's state is restored "
                "(host calls are never replayed)"
            )
        try:
            payload = json.dumps(
                {"sandbox_call": name, "args": args, "kwargs": kwargs},
                allow_nan=False,
                separators=(",", ":"),
            )
        except (TypeError, ValueError, RecursionError) as exc:
            raise TypeError(
                f"arguments of host function {name!r} must be JSON data "
                f"(dict, list, str, int, float, bool, None): {exc}"
            ) from None
        if len(payload) > self._max_request:
            raise ValueError(
                f"call of host function {name!r} is {len(payload)} bytes of JSON, over the "
                f"{self._max_request}-byte limit; send less data per call"
            )
        self._send_copies()
        while self.stdin_socket.poll(0):  # drop stale replies
            self.stdin_socket.recv_multipart()
        assert self.session is not None
        request = self.session.send(
            self.stdin_socket,
            "input_request",
            {"prompt": payload, "password": False},
            self._cell_parent,
            ident=self._cell_ident,
        )
        request_id = request["header"]["msg_id"] if request else None
        while True:
            while not self.stdin_socket.poll(100):
                pass
            _idents, reply = self.session.recv(self.stdin_socket, mode=zmq.NOBLOCK)
            if reply is None or reply.get("parent_header", {}).get("msg_id") != request_id:
                continue
            break
        answer = json.loads(reply["content"]["value"])
        if "error" in answer:
            error = answer["error"]
            raise HostFunctionError(f"host function {name!r}: {error['type']}: {error['message']}")
        return answer["result"]

    # -- requests -----------------------------------------------------------------------
    def _run_op(self, op: dict[str, Any]) -> dict[str, Any]:
        kind = op.get("op")
        if kind == "probe":
            from sandbox._probes import run_probes

            return {"probe": run_probes(op)}
        namespace = self._get_namespace()
        if kind == "inject":
            value = _load_json_file(op["path"])
            namespace[op["name"]] = self._host_names[op["name"]] = value
            self._recorder.keep(op["name"], value)
            return {}
        if kind == "register":
            stub = self._make_stub(op["name"])
            namespace[op["name"]] = self._host_names[op["name"]] = stub
            self._recorder.keep(op["name"], stub)
            return {}
        if kind == "fetch":
            return {"fetched": _as_json(namespace, op["name"], int(op["max_bytes"]))}
        if kind == "define":
            return {"defined": self._define(op["source"], namespace)}
        if kind == "restore":
            payload = _load_json_file(op["path"])
            self._host_calls = False
            try:
                return self._recorder.restore(
                    payload, namespace, lambda source: self._run_cell(source, "<restore>")
                )
            finally:
                self._host_calls = True
        raise ValueError(f"unknown sandbox operation {kind!r}")

    def _define(self, source: str, namespace: dict[str, Any]) -> list[str]:
        """Run host definitions where no cell's name can steer them: a fresh namespace holding
        only what the host put in (injected data, host functions). Then bind every public
        name they made into the session's namespace, kept like injected data."""
        if self._policy is not None:
            clean = self._policy.new_namespace()
        else:
            clean = {"__name__": "__sandbox__", "__builtins__": builtins}
        clean.update(self._host_names)
        clean["HostFunctionError"] = HostFunctionError
        before = set(clean)
        self._run_cell(source, "<define>", clean)
        made = {k: v for k, v in clean.items() if k not in before and not k.startswith("_")}
        for name, value in made.items():
            namespace[name] = self._host_names[name] = value
            self._recorder.keep(name, value)
        return sorted(made)

    async def do_execute(  # type: ignore[override]
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: Any = None,
        allow_stdin: bool = False,
        *,
        cell_meta: dict[str, Any] | None = None,
        cell_id: Any = None,
    ) -> dict[str, Any]:
        """Run one cell (or one host-issued operation) and return its reply content."""
        self._allow_stdin = allow_stdin
        self._cell_parent = self.get_parent("shell")  # type: ignore[no-untyped-call]
        self._cell_ident = self._get_shell_context_var(self._shell_parent_ident)
        self._output.take_all()
        self._cell_active = True
        content: dict[str, Any] = {"status": "ok", "execution_count": self.execution_count}
        extra: dict[str, Any] = {}
        try:
            op = (cell_meta or {}).get("sandbox_op")
            if op is None:
                self._run_user_cell(code)
            else:
                extra = self._run_op(op)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt end the cell too
            content = {
                "status": "error",
                "execution_count": self.execution_count,
                "ename": type(exc).__name__,
                "evalue": clean_text(_message(exc)[:MAX_MESSAGE_CHARS]),
                "traceback": [_format_traceback(exc)],
            }
        finally:
            self._cell_active = False
        if self._cell_state:
            extra["state"], self._cell_state = self._cell_state, {}
        stdout, stderr, dropped = self._output.take_all()
        content["sandbox"] = {"stdout": stdout, "stderr": stderr, "dropped": dropped, **extra}
        return content

    def _publish_status(self, status: str, channel: str, parent: Any = None) -> None:
        """No busy/idle status messages: the host waits for the reply itself, and two IOPub
        messages per cell were a large part of a trivial cell's round trip."""

    async def do_shutdown(self, restart: bool) -> dict[str, Any]:
        """Nothing to clean up: the host removes the whole process tree."""
        return {"status": "ok", "restart": restart}


class SandboxKernelApp(IPKernelApp):
    """IPKernelApp without the parts that assume a trusting, interactive host."""

    def init_sockets(self) -> None:
        """ipykernel's sockets, without the shell-channel thread: shell requests are handled
        on the main thread's loop directly (subshells are not used; one hop less per cell)."""
        super().init_sockets()  # type: ignore[no-untyped-call]
        self.shell_channel_thread = None

    def init_iopub(self, context: zmq.Context[Any]) -> None:
        """ipykernel's IOPub channel without its pipe for forked subprocesses' output: that
        pipe is a TCP socket on 127.0.0.1, whose bind makes libzmq list network interfaces
        over netlink, which the seccomp filter refuses (and cells' children have no output
        channel to the host anyway)."""
        from ipykernel.iostream import IOPubThread

        socket = context.socket(zmq.XPUB)
        socket.linger = 1000
        self.iopub_port = self._bind_socket(socket, self.iopub_port)  # type: ignore[no-untyped-call]
        self.iopub_thread = IOPubThread(socket, pipe=False, session=self.session)  # type: ignore[no-untyped-call]
        self.iopub_thread.start()  # type: ignore[no-untyped-call]
        self.iopub_socket = self.iopub_thread.background_socket

    def init_pdb(self) -> None:
        """No debugger hooks."""

    def init_poller(self) -> None:
        """The host kills the kernel's whole tree; no parent polling across a PID namespace."""
        self.poller = None

    def write_connection_file(self, **kwargs: Any) -> None:
        """The host wrote the connection file, read-only for the kernel."""

    def cleanup_connection_file(self) -> None:
        """The host owns the connection file."""

    def log_connection_info(self) -> None:
        """Nothing to tell: the host wrote the connection file."""

    def init_io(self) -> None:
        """The kernel installs its own capped streams; fd 1 and 2 stay the host's capped pipe."""
        self.displayhook = SimpleNamespace()


def main() -> None:
    """Entry point inside the sandbox: ``python -c ... -f <connection file>``."""
    SandboxKernelApp.launch_instance(kernel_class=SandboxKernel)


if __name__ == "__main__":
    main()
