"""The distribution: wheel contents, a clean install, the public surface, import cost."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import ace

ROOT = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).parent / "uv"


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_renders_a_prompt(tmp_path: Path) -> None:
    subprocess.run(
        [str(UV), "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ace/prompts/agent.j2" in names
    assert "sandbox/__init__.py" in names
    assert not any(n.startswith("tests/") for n in names)
    venv = tmp_path / "venv"
    subprocess.run([str(UV), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            str(UV),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            str(wheel),
            "--override",
            str(ROOT / "constraints" / "overrides.txt"),
        ],
        check=True,
        capture_output=True,
    )
    script = (
        "import ace, ace.prompting as p, sys;"
        "out = p.render_prompt('agent.j2', question='Q?', context='', skillbook='(empty)', reflection='');"
        "assert 'Q?' in out and str(p.prompt_dir()).startswith(sys.prefix), p.prompt_dir();"
        "print('ok')"
    )
    result = subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_import_ace_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, ace, ace.skillbook, ace.outputs, ace.prompting\n"
        "heavy = [m for m in ('litellm', 'logfire', 'jupyter_client', 'IPython', 'ipykernel') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names_are_exactly_all() -> None:
    for name in ace.__all__:
        assert getattr(ace, name) is not None, name
    assert set(dir(ace)) == set(ace.__all__)
    with pytest.raises(AttributeError):
        ace.NoSuchThing  # noqa: B018


def test_all_matches_the_lazy_export_table() -> None:
    assert sorted(ace.__all__) == sorted([*ace._EXPORTS, "__version__"])


def test_makefile_builds_llama_cpp_portably_into_the_cache(tmp_path: Path) -> None:
    """`make local` hands the build to ace.local_model._build (the pin comes from the extra,
    see test_local_build) with the wheelhouse outside the clone; no native build flag."""
    plan = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", "local"],
        cwd=ROOT,
        env={**os.environ, "ACE_CACHE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"-m ace.local_model._build --wheelhouse {tmp_path / 'wheels'}" in plan
    assert "ace model check" in plan
    makefile = (ROOT / "Makefile").read_text()
    assert "GGML_NATIVE=OFF" in makefile and "march=native" not in makefile
