"""The registered methods and their parameters, read from the source with ``ast`` (nothing imported).

The command line's ``--help`` lists every method's parameters without importing torch: this
module reads the modules the registry discovers (:data:`adc.core.methods.METHOD_PACKAGES`,
files not starting with ``_``), finds the classes decorated ``@register``, their ``name`` and
their ``Params`` dataclass (inherited from a base class where the class does not set it; the
fields of a Params dataclass include its bases'). ``tests/test_cli.py`` checks that this listing
equals what the imported registry says, method by method.
"""
from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from pathlib import Path

#: kept equal to adc.core.methods.METHOD_PACKAGES by tests/test_cli.py (that module imports torch)
METHOD_PACKAGES = ("adc.double_compression", "baselines")


@dataclass(frozen=True)
class ParamInfo:
    name: str
    type: str          # the annotation as written, e.g. "float"
    default: object


@dataclass
class _Class:
    name: str
    bases: list[str]
    node: ast.ClassDef
    registered: bool


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _method_files(packages=METHOD_PACKAGES) -> list[Path]:
    files = []
    for package in packages:
        root = _package_dir(package)
        if root is not None:
            files += sorted(p for p in root.glob("*.py") if not p.name.startswith("_"))
    return files


def _base_name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _is_register(node: ast.expr) -> bool:
    return _base_name(node.func if isinstance(node, ast.Call) else node) == "register"


def _classes(files) -> dict[str, _Class]:
    """Every top-level class of the files, by class name (method and Params class names are unique)."""
    out = {}
    for path in files:
        for node in ast.parse(Path(path).read_text(), filename=str(path)).body:
            if isinstance(node, ast.ClassDef):
                out[node.name] = _Class(node.name, [_base_name(b) for b in node.bases], node,
                                        any(_is_register(d) for d in node.decorator_list))
    return out


def _class_attr(classes: dict[str, _Class], cls: str, attr: str):
    """The value node of ``attr = ...`` in ``cls`` or its nearest base that sets it (None: not found)."""
    c = classes.get(cls)
    if c is None:
        return None
    for stmt in c.node.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else \
            [stmt.target] if isinstance(stmt, ast.AnnAssign) and stmt.value is not None else []
        if any(isinstance(t, ast.Name) and t.id == attr for t in targets):
            return stmt.value
    for base in c.bases:
        found = _class_attr(classes, base, attr)
        if found is not None:
            return found
    return None


def _default(value: ast.expr | None):
    if value is None:
        return None
    if isinstance(value, ast.Call) and _base_name(value.func) == "field":
        for kw in value.keywords:
            if kw.arg == "default":
                return ast.literal_eval(kw.value)
        return None
    return ast.literal_eval(value)


def _fields(classes: dict[str, _Class], cls: str) -> dict[str, ParamInfo]:
    """The dataclass fields of ``cls`` in dataclass order (bases first; a redefinition keeps its place)."""
    c = classes.get(cls)
    if c is None:
        return {}
    fields: dict[str, ParamInfo] = {}
    for base in reversed(c.bases):
        fields.update(_fields(classes, base))
    for stmt in c.node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            ann = ast.unparse(stmt.annotation)
            if ann.startswith(("ClassVar", "typing.ClassVar")):
                continue
            fields[stmt.target.id] = ParamInfo(stmt.target.id, ann, _default(stmt.value))
    return fields


def method_index(packages=METHOD_PACKAGES) -> dict[str, list[ParamInfo]]:
    """{method name: its parameters} of every ``@register``-ed class, from the source alone."""
    classes = _classes(_method_files(packages))
    index = {}
    for c in classes.values():
        if not c.registered:
            continue
        name = _class_attr(classes, c.name, "name")
        params = _class_attr(classes, c.name, "Params")
        params_cls = params.id if isinstance(params, ast.Name) else None
        index[ast.literal_eval(name)] = list(_fields(classes, params_cls).values()) if params_cls else []
    return dict(sorted(index.items()))


def describe_methods(packages=METHOD_PACKAGES) -> str:
    """One line per method: ``adc  xi: float = 0.1, balance: float = 0.5, ...`` (for ``--help``)."""
    index = method_index(packages)
    width = max(map(len, index), default=0)
    return "\n".join(f"  {name:<{width}}  " + (", ".join(f"{p.name}: {p.type} = {p.default!r}" for p in params)
                                                 or "(no parameters)")
                     for name, params in index.items())
