"""The code's structure, checked: layers and the stage contract (import-linter), no imports inside functions except
lazy optional dependencies, and no stage function that takes a scenario."""

from __future__ import annotations

import ast
import inspect
import shutil
import subprocess
from pathlib import Path

import pytest

import tokensim

PACKAGE = Path(__file__).resolve().parent.parent / "tokensim"

# Heavy or optional libraries a module may import inside a function, so that ``import tokensim`` and the CLI's start
# stay light (DESIGN.md section 9): the GPU stack, charting, sensitivity indices and statistics, scale-out, the
# table stack, the report extra's workbook and interactive charts (openpyxl, plotly) with the browser test's driver,
# and the BLAS thread limit of calibrate's worker processes (threadpoolctl).
LAZY_ALLOWED = {"cupy", "matplotlib", "SALib", "scipy", "dask", "distributed", "dask_cuda", "pandas", "pyarrow", "rich",
                "openpyxl", "plotly", "playwright", "threadpoolctl"}

# The command's entry point imports ``signal`` inside the function that catches a Ctrl-C, so that one landing in that
# import is caught too (a Ctrl-C in ``import signal`` at the top of tokensim/_entry.py printed a traceback on CI).
START_UP_DEFERRED = {("tokensim/_entry.py", "signal")}

# The stages: they take typed inputs, never a scenario (tokensim.resolve builds their inputs).
STAGES = ("perf", "cost.py", "bridge.py", "finance", "montecarlo")


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def _function_imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    yield inner.lineno, [a.name for a in inner.names]
                elif isinstance(inner, ast.ImportFrom):
                    yield inner.lineno, ["." * inner.level + (inner.module or "")]


def test_no_import_inside_a_function_except_lazy_optional_dependencies():
    offenders = []
    for path in _modules():
        for line, names in _function_imports(ast.parse(path.read_text(), str(path))):
            for name in names:
                where = path.relative_to(PACKAGE.parent).as_posix()
                if name.split(".")[0] not in LAZY_ALLOWED and (where, name) not in START_UP_DEFERRED:
                    offenders.append(f"{where}:{line} imports {name}")
    assert not offenders, "\n".join(sorted(set(offenders)))


def _annotation_names(node: ast.AST | None) -> set[str]:
    if node is None:
        return set()
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # from __future__ import annotations
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return set()
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}


def test_no_stage_function_takes_a_scenario():
    offenders = []
    for stage in STAGES:
        root = PACKAGE / stage
        for path in ([root] if root.is_file() else sorted(root.rglob("*.py"))):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
                    if any("Scenario" in _annotation_names(a.annotation) for a in args):
                        offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}")
    assert not offenders, "stage functions taking a Scenario:\n" + "\n".join(offenders)


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter not installed (test extra)")
def test_import_contracts_hold():
    """The contracts in pyproject.toml ([tool.importlinter]) hold: layers, stages never reading a scenario, and no
    import cycle between sibling modules or packages at any depth."""
    proc = subprocess.run(["lint-imports", "--no-cache"], cwd=PACKAGE.parent, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_public_functions_document_parameters_and_returns():
    """Every function ``tokensim`` exports has numpydoc Parameters and Returns sections."""
    missing = []
    for name in tokensim.__all__:
        obj = getattr(tokensim, name)
        if inspect.isfunction(obj) or (callable(obj) and not isinstance(obj, type)):
            doc = inspect.getdoc(obj) or ""
            for section in ("Parameters\n----------", "Returns\n-------"):
                if section not in doc:
                    missing.append(f"{name}: {section.splitlines()[0]}")
    assert not missing, "\n".join(missing)
