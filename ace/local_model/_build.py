"""Build llama-cpp-python portably, once per machine, and install that build.

llama.cpp's default build (``GGML_NATIVE``) compiles for the build machine's exact CPU; on
machines with AVX-512 and AMX that build crashed in ``llama_decode`` at the first token.
The recipe here fixes an explicit instruction-set baseline instead (AVX2/FMA/F16C where
the CPU has them, else SSE 4.2; never AVX-512 or AMX) and puts that recipe in the
wheel's identity as a local version (``0.3.36+ace.r2.avx2``): a changed recipe is a new
file name, so it is built and installed again instead of an old wheel being reused (uv
caches wheels by file name).

The wheelhouse (``~/.cache/ace/wheels``, beside the models) outlives clones, so a later
clone installs in seconds. Builds run in a ``.build.*`` folder removed on exit, Ctrl-C and
SIGTERM; a lock serialises two builds into one wheelhouse; stale build folders and wheels
of other recipes are removed.

``python -m ace.local_model._build [--wheelhouse DIR]`` (what ``make local`` runs) builds
when needed, installs into the running interpreter's environment when the installed
version differs, and prints one line saying what it did.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import importlib.metadata
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from ace.local_model._errors import LocalModelError
from ace.local_model._pull import _exclusive
from ace.local_model._spec import cache_dir

DISTRIBUTION = "llama-cpp-python"
RECIPE_REVISION = "r2"
"""Bumped whenever the build flags change, so every machine rebuilds."""

_OFF_X86 = (
    "GGML_AVX_VNNI",
    "GGML_AVX512",
    "GGML_AVX512_VBMI",
    "GGML_AVX512_VNNI",
    "GGML_AVX512_BF16",
    "GGML_AMX_TILE",
    "GGML_AMX_INT8",
    "GGML_AMX_BF16",
)
"""Never compiled in: AMX code is what crashed, and AVX-512 is missing on many CPUs."""

_BASELINES: dict[str, dict[str, bool]] = {
    "avx2": {"GGML_SSE42": True, "GGML_AVX": True, "GGML_AVX2": True, "GGML_BMI2": True, "GGML_FMA": True, "GGML_F16C": True},
    "sse42": {"GGML_SSE42": True, "GGML_AVX": False, "GGML_AVX2": False, "GGML_BMI2": False, "GGML_FMA": False, "GGML_F16C": False},
}  # fmt: skip
"""``avx2`` is ggml's own "haswell" level (every CPU with AVX2 also has BMI2, FMA, F16C)."""
_AVX2_FLAGS = frozenset({"avx", "avx2", "bmi2", "fma", "f16c", "sse4_2"})


@dataclass(frozen=True)
class Recipe:
    """How llama.cpp is compiled: a named instruction-set baseline and its CMake flags."""

    baseline: str
    """``avx2``, ``sse42`` (x86-64 without AVX2) or ``generic`` (other architectures)."""
    cmake_args: tuple[str, ...]

    @property
    def cmake_args_text(self) -> str:
        """The flags as one ``CMAKE_ARGS`` value."""
        return " ".join(self.cmake_args)

    def local_version(self, version: str) -> str:
        """The version this recipe's wheel carries, e.g. ``0.3.36+ace.r2.avx2``."""
        return f"{version}+ace.{RECIPE_REVISION}.{self.baseline}"

    def pip_command(self, version: str) -> str:
        """The shell command that installs this build with plain pip (for error messages)."""
        return (
            f'CMAKE_ARGS="{self.cmake_args_text}" pip install --force-reinstall --no-cache-dir '
            f"--no-binary {DISTRIBUTION} '{DISTRIBUTION}[server]=={version}'"
        )


def recipe(baseline: str | None = None) -> Recipe:
    """The portable recipe for ``baseline``, by default the best one this CPU can run."""
    chosen = baseline or _baseline_for_this_cpu()
    args = ["-DGGML_NATIVE=OFF", "-DGGML_CPU_ALL_VARIANTS=OFF", "-DGGML_BACKEND_DL=OFF"]
    if chosen in _BASELINES:
        args += [f"-D{flag}={'ON' if on else 'OFF'}" for flag, on in _BASELINES[chosen].items()]
        args += [f"-D{flag}=OFF" for flag in _OFF_X86]
    elif chosen != "generic":
        raise ValueError(f"unknown baseline {chosen!r}; known: {', '.join(_BASELINES)}, generic")
    return Recipe(baseline=chosen, cmake_args=tuple(args))


def pinned_version() -> str:
    """The llama-cpp-python version the ``local`` extra pins (from ace-rr's metadata)."""
    for requirement in importlib.metadata.requires("ace-rr") or []:
        match = re.match(r"llama-cpp-python(?:\[[^]]*\])?\s*==\s*([0-9][^;\s]*)", requirement)
        if match:
            return match.group(1)
    raise LocalModelError("ace-rr's metadata pins no llama-cpp-python version (the `local` extra)")


def installed_version() -> str | None:
    """The llama-cpp-python version installed beside this interpreter, if any."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


def wheelhouse_dir() -> Path:
    """Where built wheels are kept: ``wheels/`` beside the model cache."""
    return cache_dir().parent / "wheels"


def wheel_name(version: str) -> str:
    """The file name of this machine's wheel for ``version`` (a local version)."""
    tag = f"py3-none-linux_{platform.machine()}"
    return f"{DISTRIBUTION.replace('-', '_')}-{version}-{tag}.whl"


def build_wheel(
    wheelhouse: Path,
    *,
    chosen: Recipe | None = None,
    version: str | None = None,
    builder: Callable[[Path, Recipe, str], Path] | None = None,
    say: Callable[[str], None] = print,
) -> Path:
    """The wheel for this recipe and version, built into ``wheelhouse`` unless it is there.

    ``builder(folder, recipe, version)`` compiles the upstream wheel into ``folder`` and
    returns it (default: ``pip wheel``); injectable so the bookkeeping is testable without
    a ten-minute compile.
    """
    chosen = chosen or recipe()
    version = version or pinned_version()
    local = chosen.local_version(version)
    wheelhouse.mkdir(parents=True, exist_ok=True)
    target = wheelhouse / wheel_name(local)
    with _exclusive(wheelhouse / "wheels.lock"):
        # Under the lock no other build runs here, so every .build.* folder is stale.
        for stale in wheelhouse.glob(".build.*"):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
        if not target.exists():
            say(f"building {DISTRIBUTION} {local} into {wheelhouse} (several minutes)")
            with _build_folder(wheelhouse) as folder:
                upstream = (builder or _pip_wheel)(folder, chosen, version)
                retagged = set_local_version(upstream, folder / "retagged", local)
                os.replace(retagged, target)
        for other in wheelhouse.glob(f"{DISTRIBUTION.replace('-', '_')}-*.whl"):
            if other != target:
                other.unlink(missing_ok=True)
    return target


def ensure_installed(wheelhouse: Path, *, say: Callable[[str], None] = print) -> str:
    """Build if needed and install this machine's portable build; returns what was done."""
    chosen = recipe()
    version = pinned_version()
    local = chosen.local_version(version)
    if installed_version() == local:
        return f"{DISTRIBUTION} {local} already installed"
    if not _has_compiler():
        return (
            f"skipped: no C++ compiler, so no local model ({DISTRIBUTION} compiles llama.cpp; "
            "apt-get install g++ to enable it)"
        )
    wheel = build_wheel(wheelhouse, chosen=chosen, version=version, say=say)
    requirement = f"{DISTRIBUTION}[server]=={local}"
    uv = Path(sys.executable).with_name("uv")
    if uv.exists():
        command = [str(uv), "pip", "install", "--quiet", "--python", sys.executable]
    else:
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*command, "--find-links", str(wheelhouse), requirement], check=True)
    return f"installed {wheel.name}"


def set_local_version(wheel: Path, folder: Path, version: str) -> Path:
    """A copy of ``wheel`` in ``folder`` whose version is ``version``: the file name, the
    ``.dist-info`` folder, ``METADATA`` and a regenerated ``RECORD``."""
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as source:
        entries = source.infolist()
        dist_info = next(e.filename.split("/")[0] for e in entries if ".dist-info/" in e.filename)
        name, old_version = dist_info.removesuffix(".dist-info").rsplit("-", 1)
        new_dist_info = f"{name}-{version}.dist-info"
        target = folder / wheel.name.replace(f"-{old_version}-", f"-{version}-", 1)
        records: list[str] = []
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
            for entry in entries:
                path = entry.filename
                data = source.read(entry)
                if path.startswith(dist_info + "/"):
                    path = new_dist_info + path[len(dist_info) :]
                    if path == f"{new_dist_info}/RECORD":
                        continue
                    if path == f"{new_dist_info}/METADATA":
                        data = re.sub(
                            rb"^Version: .*$", f"Version: {version}".encode(), data, count=1,
                            flags=re.MULTILINE,
                        )  # fmt: skip
                info = zipfile.ZipInfo(path, date_time=entry.date_time)
                info.external_attr = entry.external_attr
                info.compress_type = zipfile.ZIP_DEFLATED
                out.writestr(info, data)
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                records.append(f"{path},sha256={digest.decode()},{len(data)}")
            records.append(f"{new_dist_info}/RECORD,,")
            out.writestr(f"{new_dist_info}/RECORD", "\n".join(records) + "\n")
    return target


# -- helpers --------------------------------------------------------------------------------


def _baseline_for_this_cpu() -> str:
    if platform.machine() not in ("x86_64", "AMD64", "i686"):
        return "generic"
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "sse42"
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")),
        [],
    )
    return "avx2" if set(flags) >= _AVX2_FLAGS else "sse42"


def _has_compiler() -> bool:
    return any(shutil.which(name) for name in ("c++", "g++", "clang++"))


@contextlib.contextmanager
def _build_folder(wheelhouse: Path) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix=".build.", dir=wheelhouse))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _pip_wheel(folder: Path, chosen: Recipe, version: str) -> Path:
    env = {**os.environ, "CMAKE_ARGS": chosen.cmake_args_text, "FORCE_CMAKE": "1"}
    command = [
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-binary", DISTRIBUTION,
        "--disable-pip-version-check", "--no-cache-dir", "--wheel-dir", str(folder),
        f"{DISTRIBUTION}=={version}",
    ]  # fmt: skip
    # Its own session, so an interrupt stops pip, cmake and the compilers together.
    process = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        status = process.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait()
        raise
    if status != 0:
        raise LocalModelError(f"building {DISTRIBUTION} {version} failed (pip exit {status})")
    wheels = list(folder.glob("*.whl"))
    if len(wheels) != 1:
        raise LocalModelError(f"pip wheel left {len(wheels)} wheels in {folder}, expected 1")
    return wheels[0]


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """``python -m ace.local_model._build``: build if needed, install, print what was done."""
    parser = argparse.ArgumentParser(prog="python -m ace.local_model._build")
    parser.add_argument("--wheelhouse", type=Path, default=None, help="default: beside the models")
    parser.add_argument(
        "--print-cmake-args", action="store_true", help="print this machine's CMAKE_ARGS and exit"
    )
    args = parser.parse_args(argv)
    if args.print_cmake_args:
        print(recipe().cmake_args_text)
        return 0
    # SIGTERM and SIGHUP unwind like Ctrl-C, so the build folder is removed.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    try:
        print(ensure_installed(args.wheelhouse or wheelhouse_dir()))
    except (LocalModelError, subprocess.CalledProcessError) as exc:
        print(f"ace: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
