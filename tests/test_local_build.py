"""The portable llama.cpp build: its recipe, the wheel's identity, the wheelhouse's
bookkeeping (lock, stale folders, other recipes, interrupts), and, where the ``local``
extra is installed, proof that the installed libraries hold no AVX-512 or AMX code and
run on this CPU."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
from local_model_support import require_local_model

from ace.local_model import LocalLibraryError, _build, _check

VERSION = "0.3.36"


def fake_upstream_wheel(folder: Path, version: str = VERSION) -> Path:
    """A small wheel shaped like llama-cpp-python's: a package, a shared library
    (executable bits), and dist-info with METADATA and RECORD."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"llama_cpp_python-{version}-py3-none-linux_x86_64.whl"
    dist = f"llama_cpp_python-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("llama_cpp/__init__.py", f'__version__ = "{version}"\n')
        library = zipfile.ZipInfo("llama_cpp/lib/libggml-cpu.so")
        library.external_attr = 0o100755 << 16
        wheel.writestr(library, b"\x7fELF not really")
        wheel.writestr(
            f"{dist}/METADATA",
            f"Metadata-Version: 2.1\nName: llama_cpp_python\nVersion: {version}\n",
        )
        wheel.writestr(
            f"{dist}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: py3-none-linux_x86_64\n",
        )
        wheel.writestr(f"{dist}/RECORD", "stale record\n")
    return path


def test_the_recipe_is_portable_and_named() -> None:
    avx2 = _build.recipe("avx2")
    args = set(avx2.cmake_args)
    assert "-DGGML_NATIVE=OFF" in args and "-DGGML_CPU_ALL_VARIANTS=OFF" in args
    assert {"-DGGML_AVX2=ON", "-DGGML_BMI2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON"} <= args
    for flag in ("AVX512", "AVX512_VNNI", "AVX512_BF16", "AMX_TILE", "AMX_INT8", "AMX_BF16"):
        assert f"-DGGML_{flag}=OFF" in args
    assert avx2.local_version(VERSION) == f"{VERSION}+ace.{_build.RECIPE_REVISION}.avx2"
    assert "-DGGML_AVX=OFF" in _build.recipe("sse42").cmake_args
    assert _build.recipe("generic").cmake_args[0] == "-DGGML_NATIVE=OFF"
    command = avx2.pip_command(VERSION)
    assert command.startswith('CMAKE_ARGS="-DGGML_NATIVE=OFF') and "--force-reinstall" in command
    with pytest.raises(ValueError, match="unknown baseline"):
        _build.recipe("native")


def test_this_machine_gets_a_baseline_it_can_run() -> None:
    flags = set(re.findall(r"\b(avx2|bmi2|fma|f16c)\b", Path("/proc/cpuinfo").read_text()))
    expected = "avx2" if flags == {"avx2", "bmi2", "fma", "f16c"} else "sse42"
    assert _build.recipe().baseline == expected


def test_the_pin_comes_from_the_local_extra() -> None:
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    pinned = re.search(r'"llama-cpp-python\[server\]==([0-9.]+)"', pyproject)
    assert pinned is not None and _build.pinned_version() == pinned.group(1)


def test_the_local_version_is_written_everywhere_pip_looks(tmp_path: Path) -> None:
    upstream = fake_upstream_wheel(tmp_path / "up")
    local = f"{VERSION}+ace.r9.avx2"
    retagged = _build.set_local_version(upstream, tmp_path / "out", local)

    assert retagged.name == f"llama_cpp_python-{local}-py3-none-linux_x86_64.whl"
    dist = f"llama_cpp_python-{local}.dist-info"
    with zipfile.ZipFile(retagged) as wheel:
        names = wheel.namelist()
        assert f"{dist}/METADATA" in names and not any(
            ".dist-info" in n and dist not in n for n in names
        )
        assert f"Version: {local}\n" in wheel.read(f"{dist}/METADATA").decode()
        assert wheel.getinfo("llama_cpp/lib/libggml-cpu.so").external_attr >> 16 == 0o100755
        for line in wheel.read(f"{dist}/RECORD").decode().splitlines():
            path, digest, size = line.split(",")
            if path.endswith("RECORD"):
                continue
            data = wheel.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == f"sha256={expected.decode()}" and int(size) == len(data)
    # pip itself accepts it and records the local version.
    target = tmp_path / "target"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--disable-pip-version-check", "--target", str(target), str(retagged)],
        check=True,
    )  # fmt: skip
    assert (target / dist / "METADATA").exists()
    assert (target / "llama_cpp" / "lib" / "libggml-cpu.so").stat().st_mode & 0o111


def test_the_wheelhouse_builds_once_cleans_up_and_keeps_one_recipe(tmp_path: Path) -> None:
    house = tmp_path / "wheels"
    house.mkdir()
    (house / ".build.stale123").mkdir()  # left by a build killed with SIGKILL
    (house / ".build.stale123" / "junk.o").write_bytes(b"x" * 100)
    old = house / f"llama_cpp_python-{VERSION}-py3-none-linux_x86_64.whl"  # the native build
    old.write_bytes(b"old")
    calls: list[str] = []

    def builder(folder: Path, chosen: _build.Recipe, version: str) -> Path:
        calls.append(chosen.baseline)
        assert folder.parent == house and folder.name.startswith(".build.")
        return fake_upstream_wheel(folder / "dist", version)

    chosen = _build.recipe("avx2")
    wheel = _build.build_wheel(
        house, chosen=chosen, version=VERSION, builder=builder, say=lambda m: None
    )
    assert wheel.name == _build.wheel_name(chosen.local_version(VERSION))
    assert sorted(p.name for p in house.iterdir()) == [wheel.name, "wheels.lock"]
    # Built once: the second call finds the wheel.
    assert (
        _build.build_wheel(
            house, chosen=chosen, version=VERSION, builder=builder, say=lambda m: None
        )
        == wheel
    )
    assert calls == ["avx2"]
    # Another recipe replaces it.
    other = _build.build_wheel(
        house, chosen=_build.recipe("sse42"), version=VERSION, builder=builder, say=lambda m: None
    )
    assert sorted(p.name for p in house.glob("*.whl")) == [other.name]


def test_a_failed_build_leaves_nothing(tmp_path: Path) -> None:
    house = tmp_path / "wheels"

    def builder(folder: Path, chosen: _build.Recipe, version: str) -> Path:
        (folder / "half-built.o").write_bytes(b"x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _build.build_wheel(
            house,
            chosen=_build.recipe("avx2"),
            version=VERSION,
            builder=builder,
            say=lambda m: None,
        )
    assert [p.name for p in house.iterdir()] == ["wheels.lock"]


BUILD_SCRIPT = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_local_build import fake_upstream_wheel
    from ace.local_model import _build

    log = Path(sys.argv[2])

    def builder(folder, chosen, version):
        with log.open("a") as f:
            f.write(f"start {{time.monotonic()}}\\n")
        print("building", flush=True)
        time.sleep(float(sys.argv[3]))
        with log.open("a") as f:
            f.write(f"end {{time.monotonic()}}\\n")
        return fake_upstream_wheel(folder / "dist", version)

    signal.signal(signal.SIGTERM, _build._exit_on_signal)
    _build.build_wheel(Path(sys.argv[1]), chosen=_build.recipe("avx2"), version="0.3.36",
                       builder=builder, say=lambda m: None)
    """
)


def run_build(tmp_path: Path, house: Path, log: Path, seconds: float) -> subprocess.Popen[str]:
    script = tmp_path / "build.py"
    script.write_text(BUILD_SCRIPT.format(tests=str(Path(__file__).parent)))
    return subprocess.Popen(
        [sys.executable, str(script), str(house), str(log), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_sigterm_during_a_build_removes_its_folder(tmp_path: Path) -> None:
    house, log = tmp_path / "wheels", tmp_path / "log"
    build = run_build(tmp_path, house, log, seconds=60)
    assert build.stdout is not None and build.stdout.readline().strip() == "building"
    assert list(house.glob(".build.*"))
    build.send_signal(signal.SIGTERM)  # this one child only
    assert build.wait(timeout=30) == 128 + signal.SIGTERM
    assert not list(house.glob(".build.*")) and not list(house.glob("*.whl"))


def test_two_builds_into_one_wheelhouse_run_one_after_the_other(tmp_path: Path) -> None:
    house, log = tmp_path / "wheels", tmp_path / "log"
    first = run_build(tmp_path, house, log, seconds=1.5)
    assert first.stdout is not None and first.stdout.readline().strip() == "building"
    second = run_build(tmp_path, house, log, seconds=1.5)
    assert first.wait(timeout=60) == 0 and second.wait(timeout=60) == 0
    # The second waited for the lock, then found the wheel: one build in all.
    events = log.read_text().split()
    assert events[0::2] == ["start", "end"]
    assert len(list(house.glob("*.whl"))) == 1


# -- the installed build (needs the `local` extra) --------------------------------------------

AMX_OR_AVX512 = re.compile(
    r"\b(tdpb\w+|tdpf\w+|ldtilecfg|sttilecfg|tileloadd\w*|tilestored|tilezero|tilerelease)\b"
    r"|%zmm\d|\{%k[1-7]\}"
)


@pytest.mark.slow
def test_the_installed_libraries_hold_no_amx_or_avx512_code() -> None:
    require_local_model()
    if shutil.which("objdump") is None:
        pytest.fail("objdump (binutils) is needed to read the libraries")
    libraries = sorted(_check.library_dir().glob("libggml*.so*"))
    assert any("cpu" in p.name for p in libraries), libraries
    for library in libraries:
        listing = subprocess.run(
            ["objdump", "-d", "--no-show-raw-insn", str(library)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        found = AMX_OR_AVX512.search(listing)
        assert found is None, f"{library.name} holds {found.group(0) if found else ''}"


@pytest.mark.slow
def test_the_installed_build_is_the_portable_recipe_and_runs(tmp_path: Path) -> None:
    require_local_model()
    chosen = _build.recipe()
    assert _build.installed_version() == chosen.local_version(_build.pinned_version())
    check = _check.check_library(_installed_model(), force=True)
    info = check.system_info.replace(" ", "")
    if chosen.baseline == "avx2":
        assert "AVX2=1" in info
    assert "AVX512=1" not in info and "AMX_INT8=1" not in info
    # Remembered by the libraries' hash: the next check is a file read.
    started = time.monotonic()
    assert _check.check_library(_installed_model()) == check
    assert time.monotonic() - started < 2


def _installed_model() -> Path:
    from ace.local_model import require_installed

    return require_installed()


def test_a_crashing_library_is_named_with_its_fix(tmp_path: Path) -> None:
    crash = tmp_path / "crash.py"
    crash.write_text(
        "import os, signal\nprint('llama_decode: start', flush=True)\nos.kill(os.getpid(), signal.SIGSEGV)\n"
    )
    with pytest.raises(LocalLibraryError) as failure:
        _check.run_check(tmp_path / "model.gguf", command=[sys.executable, str(crash)], timeout=30)
    message = str(failure.value)
    assert "crashed with SIGSEGV in a one-token test completion" in message
    assert "make local" in message and "-DGGML_NATIVE=OFF" in message
