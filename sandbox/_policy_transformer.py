"""Compile-time half of the code policy: a RestrictedPython transformer of our own.

It keeps RestrictedPython's refusals of unknown syntax, async code, `try/except*` and
`*` imports, and changes the rest so ordinary analysis code compiles:

- names may start with "_"; only the `_name_` form (the policy's hooks) is refused;
- attribute reads become `_getattr_(obj, "name")`, attribute and item writes go through
  `_write_(obj)`; `obj.attr op= v` becomes a guarded read, `_inplacevar_` and a guarded
  write; `counts[k] += 1` and `x += 1` stay native;
- iteration, unpacking, item reads and `print` are left alone: the guards that
  RestrictedPython puts there protect Zope's security proxies, which we do not have.
"""

from __future__ import annotations

import _string  # type: ignore[import-not-found]  # str.format's own parser
import ast
import string
from collections.abc import Iterator

from RestrictedPython.transformer import IOPERATOR_TO_STR, RestrictingNodeTransformer

from sandbox._policy_rules import (
    ALLOWED_MODULES,
    DEFINABLE_DUNDERS,
    HARMLESS_READS,
    INTERNAL_ATTRS,
    UNAVAILABLE_BUILTINS,
    internal_refusal,
    is_hook_name,
    underscore_refusal,
)

_Visited = ast.AST | list[ast.stmt] | None


def bound_names(tree: ast.AST) -> set[str]:
    """Every name the cell itself binds (so a cell may define its own `input`, say)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


class CellTransformer(RestrictingNodeTransformer):
    """Checks one cell's AST and rewrites attribute access and writes to the guards."""

    def __init__(self, errors: list[str], bound: set[str]) -> None:
        super().__init__(errors=errors)
        self._bound = bound
        self._class_body = False
        self._aug_index = 0

    def error(self, node: ast.AST, info: str) -> None:
        """Record a refusal as "line N: what and why"."""
        self.errors.append(f"line {getattr(node, 'lineno', '?')}: {info}")

    def check_name(
        self,
        node: ast.stmt
        | ast.expr
        | ast.excepthandler
        | ast.arg
        | ast.keyword
        | ast.alias
        | ast.pattern,
        name: str | None,
        allow_magic_methods: bool = False,
    ) -> None:
        """Refuse only names of the form _name_: those belong to the policy's hooks."""
        if name is not None and is_hook_name(name):
            self.error(
                node,
                f'name "{name}" is not allowed: names of the form _name_ are reserved '
                "for the sandbox (names with one leading underscore are fine)",
            )

    def inject_print_collector(self, node: ast.Module | ast.FunctionDef, position: int = 0) -> None:
        """`print` is an ordinary builtin here, so nothing is injected."""

    # names and attributes

    def visit_Name(self, node: ast.Name) -> _Visited:
        """Refuse reserved names and builtins that are unavailable."""
        if isinstance(node.ctx, ast.Load):
            if node.id == "__name__":
                return node
            reason = UNAVAILABLE_BUILTINS.get(node.id)
            if reason and node.id not in self._bound:
                self.error(node, f"{node.id}() is not available: {reason}")
                return node
        self.check_name(node, node.id)
        return node

    def _check_attribute(self, node: ast.Attribute, reading: bool) -> None:
        name = node.attr
        if name.startswith("_"):
            if not (reading and (name in HARMLESS_READS or name in DEFINABLE_DUNDERS)):
                self.error(node, underscore_refusal(name))
        elif name in INTERNAL_ATTRS:
            self.error(node, internal_refusal(name))

    def visit_Attribute(self, node: ast.Attribute) -> _Visited:
        """`a.b` -> `_getattr_(a, "b")`; `a.b = v` and `del a.b` -> `_write_(a).b`."""
        reading = isinstance(node.ctx, ast.Load)
        self._check_attribute(node, reading)
        node = self.node_contents_visit(node)
        if reading:
            call = _call("_getattr_", node.value, ast.Constant(node.attr))
            ast.copy_location(call, node)
            return call
        node.value = ast.copy_location(_call("_write_", node.value), node.value)
        return node

    def visit_Subscript(self, node: ast.Subscript) -> _Visited:
        """Item reads stay native; item writes and deletes go through `_write_`."""
        node = self.node_contents_visit(node)
        if not isinstance(node.ctx, ast.Load):
            node.value = ast.copy_location(_call("_write_", node.value), node.value)
        return node

    # statements RestrictedPython rewrites for Zope's proxies: left native here

    def visit_For(self, node: ast.For) -> _Visited:
        """Loops run natively."""
        return self.node_contents_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> _Visited:
        """Comprehensions run natively."""
        return self.node_contents_visit(node)

    def visit_Assign(self, node: ast.Assign) -> _Visited:
        """Unpacking runs natively."""
        return self.node_contents_visit(node)

    def visit_With(self, node: ast.With) -> _Visited:
        """`with` runs natively."""
        return self.node_contents_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> _Visited:
        """Annotated assignment, checked like a plain one."""
        return self.node_contents_visit(node)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> _Visited:
        """Closures may rebind their enclosing function's names."""
        for name in node.names:
            self.check_name(node, name)
        return node

    def visit_Global(self, node: ast.Global) -> _Visited:
        """`global` is fine for ordinary names."""
        for name in node.names:
            self.check_name(node, name)
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> _Visited:
        """`x op= v` and `a[k] op= v` stay native (the write goes through `_write_`);
        `a.b op= v` reads through `_getattr_` so the guard sees the value it mutates."""
        target = node.target
        if not isinstance(target, ast.Attribute):
            return self.node_contents_visit(node)
        self._check_attribute(target, reading=False)
        holder = self.visit(target.value)
        value = self.visit(node.value)
        assert isinstance(holder, ast.expr) and isinstance(value, ast.expr)
        prelude: list[ast.stmt] = []
        if isinstance(holder, ast.Name):
            name = holder.id
        else:
            name = f"_aug{self._aug_index}_"
            self._aug_index += 1
            prelude.append(ast.Assign(targets=[ast.Name(name, ast.Store())], value=holder))
        new_value = _call(
            "_inplacevar_",
            ast.Constant(IOPERATOR_TO_STR[type(node.op)]),
            _call("_getattr_", ast.Name(name, ast.Load()), ast.Constant(target.attr)),
            value,
        )
        write_target = ast.Attribute(
            value=_call("_write_", ast.Name(name, ast.Load())), attr=target.attr, ctx=ast.Store()
        )
        store: ast.stmt = ast.Assign(targets=[write_target], value=new_value)
        if prelude:
            cleanup = ast.Delete(targets=[ast.Name(name, ast.Del())])
            store = ast.Try(body=[store], handlers=[], orelse=[], finalbody=[cleanup])
        result = [*prelude, store]
        for stmt in result:
            ast.copy_location(stmt, node)
            ast.fix_missing_locations(stmt)
        return result

    # calls, functions, classes

    def visit_Call(self, node: ast.Call) -> _Visited:
        """Calls run natively; a constant format string is checked for attribute walks."""
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in ("format", "format_map")
            and isinstance(func.value, ast.Constant)
            and isinstance(func.value.value, str)
        ):
            for attr in _format_attribute_walks(func.value.value):
                if attr.startswith("_") and attr not in HARMLESS_READS:
                    self.error(node, "format string field " + underscore_refusal(attr))
                elif attr in INTERNAL_ATTRS:
                    self.error(node, "format string field " + internal_refusal(attr))
        return self.node_contents_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> _Visited:
        """Functions, and the allowed dunder methods directly inside a class body."""
        if self._class_body and is_hook_name(node.name):
            if node.name not in DEFINABLE_DUNDERS:
                self.error(
                    node,
                    f'defining "{node.name}" is not allowed: a class defined in a cell may '
                    "define only ordinary dunder methods such as __init__, __repr__, __len__, "
                    "__eq__, __iter__, __getitem__",
                )
        else:
            self.check_name(node, node.name)
        self.check_function_argument_names(node)
        outer, self._class_body = self._class_body, False
        try:
            return self.node_contents_visit(node)
        finally:
            self._class_body = outer

    def visit_ClassDef(self, node: ast.ClassDef) -> _Visited:
        """Classes without keywords (no metaclass=, no __init_subclass__ arguments)."""
        self.check_name(node, node.name)
        if node.keywords:
            self.error(
                node,
                f'class "{node.name}": keyword arguments such as metaclass= are not allowed',
            )
        node.bases = [self._expr(b) for b in node.bases]
        node.decorator_list = [self._expr(d) for d in node.decorator_list]
        outer, self._class_body = self._class_body, True
        try:
            node.body = self._stmts(node.body)
        finally:
            self._class_body = outer
        return node

    def visit_Lambda(self, node: ast.Lambda) -> _Visited:
        """Lambdas, with their parameter names checked."""
        self.check_function_argument_names(node)
        outer, self._class_body = self._class_body, False
        try:
            return self.node_contents_visit(node)
        finally:
            self._class_body = outer

    # imports

    def visit_Import(self, node: ast.Import) -> _Visited:
        """`import m` for allowed modules only."""
        for alias in node.names:
            self._check_module(node, alias.name)
        return self.check_import_names(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> _Visited:
        """`from m import name` for allowed modules and public names only."""
        if node.level:
            self.error(node, "relative imports are not allowed")
        else:
            self._check_module(node, node.module or "")
        for alias in node.names:
            if alias.name.startswith("_"):
                self.error(node, f'importing "{alias.name}" is not allowed: it is private')
        return self.check_import_names(node)

    def _check_module(self, node: ast.stmt, module: str) -> None:
        if module not in ALLOWED_MODULES:
            self.error(
                node,
                f'import of "{module}" is not allowed; allowed modules: '
                + ", ".join(sorted(ALLOWED_MODULES)),
            )

    # helpers

    def _expr(self, node: ast.expr) -> ast.expr:
        result = self.visit(node)
        assert isinstance(result, ast.expr)
        return result

    def _stmts(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for stmt in body:
            result = self.visit(stmt)
            if isinstance(result, list):
                out.extend(result)
            elif isinstance(result, ast.stmt):
                out.append(result)
        return out


def _call(func: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(func, ast.Load()), args=list(args), keywords=[])


def _format_attribute_walks(fmt: str, depth: int = 0) -> Iterator[str]:
    """Attribute names that `fmt.format(...)` would look up, nested specs included."""
    try:
        fields = list(string.Formatter().parse(fmt))
        for _literal, field, spec, _conversion in fields:
            if field is None:
                continue
            _first, rest = _string.formatter_field_name_split(field)
            for is_attr, key in rest:
                if is_attr:
                    yield str(key)
            if spec and depth < 2:
                yield from _format_attribute_walks(spec, depth + 1)
    except ValueError:
        return  # a malformed format string fails at run time with Python's own message
