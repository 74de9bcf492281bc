"""One export list per package: ``__all__`` names exactly what the package offers.

For every package of ``ace`` and ``sandbox``: ``__all__`` has no repeats, every name in it
resolves, and every public name the package's ``__init__`` offers (its definitions, what
it re-exports from its own submodules) is in it; a package importing lazily from a
mapping (``_EXPORTS``) exports exactly the mapping, so a name cannot be added in one
place and forgotten in another. For ``ace`` itself, ``__all__``
is derived from the one mapping, and the ``TYPE_CHECKING`` imports that type checkers
read must name the same modules and re-export each name explicitly.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import ace

REPO = Path(__file__).resolve().parent.parent
PACKAGES = sorted(
    ".".join(init.parent.relative_to(REPO).parts)
    for root in ("ace", "sandbox")
    for init in (REPO / root).rglob("__init__.py")
    if "__pycache__" not in init.parts
)


def _tree(package: str) -> ast.Module:
    path = REPO.joinpath(*package.split("."), "__init__.py")
    return ast.parse(path.read_text(encoding="utf-8"))


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in (
        "TYPE_CHECKING",
        "typing.TYPE_CHECKING",
    )


def _mapping(tree: ast.Module) -> dict[str, str]:
    """The lazy-import mapping ``_EXPORTS`` (name -> module), or {} for an eager package."""
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "_EXPORTS" and node.value is not None:  # type: ignore[union-attr]
            value = ast.literal_eval(node.value)  # type: ignore[union-attr]
            assert isinstance(value, dict)
            return value
    return {}


def _offered(package: str, tree: ast.Module) -> set[str]:
    """Public names the package's ``__init__`` offers at run time: what it defines or
    assigns, and what it imports from its own submodules without using it (a re-export,
    as ruff's F401 sees it); TYPE_CHECKING blocks, imports of helpers from elsewhere and
    submodules themselves are not offers."""
    used = {
        node.id
        for statement in tree.body
        if not _assigns(statement, "__all__")
        for node in ast.walk(statement)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(package + "."):
            names.update(a.asname or a.name for a in node.names if (a.asname or a.name) not in used)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    module = importlib.import_module(package)
    return {
        n for n in names if not n.startswith("_") and not inspect.ismodule(getattr(module, n, None))
    }


def _assigns(statement: ast.stmt, name: str) -> bool:
    targets = statement.targets if isinstance(statement, ast.Assign) else []
    if isinstance(statement, ast.AnnAssign):
        targets = [statement.target]
    return any(isinstance(t, ast.Name) and t.id == name for t in targets)


def _type_checking_imports(tree: ast.Module) -> dict[str, tuple[str, str | None]]:
    """name -> (module, alias) of every import inside ``if TYPE_CHECKING:`` blocks."""
    found: dict[str, tuple[str, str | None]] = {}
    for node in tree.body:
        if not _is_type_checking(node):
            continue
        for statement in ast.walk(node):
            if isinstance(statement, ast.ImportFrom) and statement.module:
                for alias in statement.names:
                    assert alias.name not in found, f"{alias.name} imported twice"
                    found[alias.name] = (statement.module, alias.asname)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_the_one_list_of_what_the_package_offers(package: str) -> None:
    module = importlib.import_module(package)
    tree = _tree(package)
    exported = getattr(module, "__all__", None)
    mapping = _mapping(tree)
    public = _offered(package, tree)
    if exported is None:
        assert not public and not mapping, f"{package} offers names but has no __all__"
        return
    assert len(set(exported)) == len(exported), f"{package}.__all__ repeats a name"
    missing = public - set(exported)
    assert not missing, f"{package} offers {sorted(missing)} outside __all__"
    if mapping:
        dunders = {n for n in exported if n.startswith("__")}
        assert set(exported) == set(mapping) | public | dunders, (
            f"{package}: __all__ is not the lazy mapping: extra "
            f"{sorted(set(exported) - set(mapping) - public - dunders)}"
        )
    for name in exported:
        assert hasattr(module, name), f"{package}.{name} is exported but does not resolve"
    typed = _type_checking_imports(tree)
    if mapping and typed:
        assert {n: m for n, (m, _) in typed.items()} == {
            n: m for n, m in mapping.items() if n in typed
        }, f"{package}: a TYPE_CHECKING import names another module than _EXPORTS"


def test_ace_all_comes_from_the_mapping_and_type_checkers_see_every_name() -> None:
    tree = _tree("ace")
    mapping = _mapping(tree)
    assert ace.__all__ == sorted([*mapping, "__version__"])
    typed = _type_checking_imports(tree)
    assert set(typed) == set(mapping), (
        f"TYPE_CHECKING block out of step with _EXPORTS: missing "
        f"{sorted(set(mapping) - set(typed))}, extra {sorted(set(typed) - set(mapping))}"
    )
    for name, (module, alias) in typed.items():
        assert module == mapping[name], f"{name}: TYPE_CHECKING imports it from {module}"
        assert alias == name, f"{name}: import it as `{name} as {name}` to re-export it"
    assert dir(ace) == ace.__all__


def test_every_ace_name_resolves_to_its_module_on_first_use() -> None:
    """In a fresh interpreter (names are cached in the module once looked up)."""
    code = (
        "import ace, importlib\n"
        "for name, module in ace._EXPORTS.items():\n"
        "    value = getattr(ace, name)\n"
        "    assert value is getattr(importlib.import_module(module), name), name\n"
        "print(len(ace._EXPORTS))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(ace._EXPORTS)
