"""Every code reference in the docstrings and comments of tokensim/ and in the comments of kernels/ resolves.

What counts as a reference:

- a Sphinx role, ``:func:``, ``:class:``, ``:mod:``, ``:data:``, ``:meth:``, ``:attr:``, ``:exc:``, ``:obj:``,
  ``:const:`` (also ``:py:func:`` and so on), with its ``~`` or ``!`` prefix and a ``title <target>`` form;
- a plain dotted mention ``tokensim.x.y`` (the kernels' comments name the Python side this way);
- a source path ``tokensim/x/y.py``: the file must exist.

How a target resolves:

- ``tokensim.x.y`` and any other dotted name that starts with an importable module: import the longest module prefix,
  then take attributes (a dataclass field, a class annotation or a submodule counts as an attribute);
- ``.x``: relative to the module's package, as ``from .x import ...`` would read it, else an attribute of the module;
- a bare ``name`` or ``Class.attr``: the enclosing classes first, then the module's namespace, then builtins.

A reference that names something gone (a renamed function, a moved module) fails here with its file and line.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import importlib
import importlib.util
import io
import re
import tokenize
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tokensim"
KERNELS = ROOT / "kernels"
KERNEL_SUFFIXES = {".cu", ".cuh", ".h", ".hpp", ".c", ".cpp"}

ROLE = re.compile(r":(?:py:)?(?:func|class|mod|data|meth|attr|exc|obj|const):`([^`]+)`")
# `tokensim.x.y` not inside a path (tokensim/x.py), a file name (foo-tokensim.x) or a longer word
DOTTED = re.compile(r"(?<![\w/.\-])tokensim(?:\.[A-Za-z_]\w*)+")
SOURCE_PATH = re.compile(r"(?<![\w/.\-])(?:tokensim|kernels)/[\w/]+\.(?:py|cuh?)\b")

_MISSING = object()


@dataclasses.dataclass(frozen=True)
class Ref:
    """One reference: where it is, the target as written, and the module and class it was written in."""

    path: Path
    line: int
    text: str  # as written, for the message
    target: str
    module: str | None  # dotted name of the module holding it (None for a kernel file)
    classes: tuple[str, ...] = ()  # enclosing class names, outermost first

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _targets(text: str) -> list[tuple[int, str, str]]:
    """(offset, as written, target) of each role and plain dotted mention in ``text``."""
    found = []
    covered: list[tuple[int, int]] = []
    for m in ROLE.finditer(text):
        target = m.group(1).strip()
        titled = re.fullmatch(r".*<([^<>]+)>", target)
        if titled:
            target = titled.group(1).strip()
        target = re.sub(r"\s+", "", target).lstrip("~!").removesuffix("()")  # a role may wrap across lines
        found.append((m.start(), m.group(0), target))
        covered.append(m.span())
    for m in DOTTED.finditer(text):
        if not any(a <= m.start() < b for a, b in covered):
            found.append((m.start(), m.group(0), m.group(0)))
    for m in SOURCE_PATH.finditer(text):
        found.append((m.start(), m.group(0), m.group(0)))
    return found


def _enclosing_classes(tree: ast.Module) -> list[tuple[int, int, tuple[str, ...]]]:
    """(first line, last line, class chain) of every class in the module."""
    spans = []

    def visit(node: ast.AST, chain: tuple[str, ...]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                inner = (*chain, child.name)
                spans.append((child.lineno, child.end_lineno or child.lineno, inner))
                visit(child, inner)
            else:
                visit(child, chain)

    visit(tree, ())
    return spans


def _classes_at(spans: list[tuple[int, int, tuple[str, ...]]], line: int) -> tuple[str, ...]:
    inside = [chain for first, last, chain in spans if first <= line <= last]
    return max(inside, key=len, default=())


def python_refs(path: Path, source: str | None = None, module: str | None = None) -> list[Ref]:
    """References in the docstrings (and other bare string statements) and the comments of one Python file (or of
    ``source`` read as that file)."""
    source = path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(source)
    module = module or _module_name(path)
    spans = _enclosing_classes(tree)
    refs = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)):
            text = node.value.value
            for offset, written, target in _targets(text):
                line = node.lineno + text.count("\n", 0, offset)
                refs.append(Ref(path, line, written, target, module, _classes_at(spans, node.lineno)))
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            line = token.start[0]
            for _, written, target in _targets(token.string):
                refs.append(Ref(path, line, written, target, module, _classes_at(spans, line)))
    return refs


def kernel_refs(path: Path) -> list[Ref]:
    """References in a kernel source file: C comments may name the Python side (``tokensim.x.y``) or use roles."""
    text = path.read_text(encoding="utf-8")
    return [Ref(path, text.count("\n", 0, offset) + 1, written, target, None)
            for offset, written, target in _targets(text)]


# -- resolving -------------------------------------------------------------------------------------------------------
def _attribute(obj: object, name: str) -> object:
    """``getattr`` that also accepts a dataclass field, a class annotation and a not yet imported submodule."""
    value = getattr(obj, name, _MISSING)
    if value is not _MISSING:
        return value
    if isinstance(obj, ModuleType):
        try:
            return importlib.import_module(f"{obj.__name__}.{name}")
        except ModuleNotFoundError:
            return _MISSING
    if isinstance(obj, type):
        if dataclasses.is_dataclass(obj) and name in {f.name for f in dataclasses.fields(obj)}:
            return name
        if any(name in getattr(klass, "__annotations__", {}) for klass in obj.__mro__):
            return name
    return _MISSING


def _walk(obj: object, parts: list[str]) -> bool:
    for part in parts:
        obj = _attribute(obj, part)
        if obj is _MISSING:
            return False
    return True


def _absolute(target: str) -> bool | None:
    """True or False when some prefix of ``target`` imports as a module, None when none does."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a parent that is not a package
            found = False
        if found:
            return _walk(importlib.import_module(name), parts[cut:])
    return None


def _module_of(ref: Ref) -> ModuleType:
    name = ref.module or ""
    if name.endswith("__main__"):  # importing it would run the command line
        name = name.rsplit(".", 1)[0]
    return importlib.import_module(name)


def resolves(ref: Ref) -> bool:
    target = ref.target
    if SOURCE_PATH.fullmatch(target):
        return (ROOT / target).is_file()
    if target.startswith("."):
        if ref.module is None:
            return False
        module = _module_of(ref)
        package = module.__name__ if hasattr(module, "__path__") else module.__name__.rpartition(".")[0]
        depth = len(target) - len(target.lstrip("."))
        absolute = importlib.util.resolve_name("." * depth + target[depth:].split(".")[0], package)
        rest = target[depth:].split(".")[1:]
        if _absolute(".".join([absolute, *rest])):
            return True
        return depth == 1 and _walk(module, target[1:].split("."))
    parts = target.split(".")
    if ref.module is not None:
        module = _module_of(ref)
        scopes: list[object] = []
        obj: object = module
        for name in ref.classes:  # the innermost enclosing class first
            obj = _attribute(obj, name)
            if obj is _MISSING:
                break
            scopes.insert(0, obj)
        scopes.append(module)
        if any(_walk(scope, parts) for scope in scopes):
            return True
    if hasattr(builtins, parts[0]) and _walk(builtins, parts):
        return True
    return bool(_absolute(target))


def _files() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    files += sorted(p for p in KERNELS.rglob("*") if p.suffix in KERNEL_SUFFIXES or p.suffix == ".py")
    return files


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_code_references_resolve(path):
    """Each role and each ``tokensim.x.y`` in this file's docstrings and comments names something that exists."""
    refs = kernel_refs(path) if path.is_relative_to(KERNELS) and path.suffix != ".py" else python_refs(path)
    broken = [f"{ref.where()}: {ref.text}" for ref in refs if not resolves(ref)]
    assert not broken, "references to names that do not exist:\n" + "\n".join(broken)


def test_the_scanner_finds_and_resolves_each_form():
    """The scanner reads roles with ~, titles and leading dots, plain dotted mentions, comments and class context."""
    text = ('"""See :func:`~tokensim.cost.cost_per_gpu_hour`, :class:`the report <tokensim.report.Report>`,\n'
            ':mod:`.cost`, :data:`tokensim.report.PAYBACK_CLAIM_YEARS` and tokensim.no_such_name."""\n'
            "class Report:\n"
            '    """:meth:`to_dict` and :attr:`missing_attribute`."""\n'
            "# a comment naming tokensim._shapley.shapley_values and :func:`run_report`\n"
            "# (tokensim/report.py, tokensim/no_such_file.py, kernels/philox.cuh)\n")
    refs = python_refs(PACKAGE / "report.py", source=text, module="tokensim.report")
    result = {ref.target: resolves(ref) for ref in refs}
    assert result == {"tokensim.cost.cost_per_gpu_hour": True, "tokensim.report.Report": True, ".cost": True,
                      "tokensim.report.PAYBACK_CLAIM_YEARS": True, "tokensim.no_such_name": False,
                      "to_dict": True, "missing_attribute": False, "tokensim._shapley.shapley_values": True,
                      "run_report": True, "tokensim/report.py": True, "tokensim/no_such_file.py": False,
                      "kernels/philox.cuh": True}
    assert {ref.line for ref in refs if ref.target == "tokensim.no_such_name"} == {2}
