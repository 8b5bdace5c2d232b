"""Loading CUDA kernels: ``kernels/<name>.cu`` read as text, local headers inlined, compiled once through CuPy.

Why inline headers ourselves (DESIGN.md section 9): CuPy's on-disk cache keys on the source text and options it is
given, so a change in an ``#include``-d header would not trigger a recompile. We inline every ``#include "x.cuh"``
from the kernels folder, hash the full inlined text with SHA-256 and pass the hash as ``-DTOKENSIM_SOURCE_HASH=...``
so that any change anywhere gives a new cache key. The inliner also emits ``#line`` directives, so compiler errors
name the real file and line (``philox.cuh:42``) rather than a line of the concatenation.

One source serves float32 and float64: ``dtype`` selects ``-DTOKENSIM_REAL=float|double``. Modules are cached per
(file, dtype, extra options, name expressions) for the life of the process. CuPy is imported only inside
:func:`get_module`; :func:`inline_source`, :func:`source_hash` and :func:`compile_options` need no CuPy and serve the
tests and ``.ci/run``'s nvcc checks (``python -m tokensim._kernels philox_kat > /tmp/philox_kat.cu``).
"""

from __future__ import annotations

import hashlib
import re
import sys
import threading
from pathlib import Path

from ._errors import UserError, did_you_mean
from .config._yaml import kernels_dir

__all__ = [
    "REAL_TYPES",
    "BASE_OPTIONS",
    "inline_source",
    "source_hash",
    "compile_options",
    "get_module",
    "get_function",
    "clear_cache",
]

# C type of ``TOKENSIM_REAL`` for each dtype a kernel may run in.
REAL_TYPES = {"float64": "double", "float32": "float"}
# C++17 for hex-float literals, constexpr and structured code; NVRTC's default dialect varies by CUDA version.
BASE_OPTIONS = ("-std=c++17",)

# Only quoted includes are ours to inline; <system> includes stay for the compiler.
_INCLUDE = re.compile(r'^\s*#\s*include\s*"(?P<header>[^"]+)"')
_PRAGMA_ONCE = re.compile(r"^\s*#\s*pragma\s+once\b")

_cache: dict[tuple, object] = {}
_cache_lock = threading.Lock()


def _kernel_file_name(kernel_file: str) -> str:
    """``"philox_kat"`` or ``"philox_kat.cu"`` -> ``"philox_kat.cu"``."""
    name = Path(kernel_file).name
    return name if name.endswith((".cu", ".cuh")) else f"{name}.cu"


def _read(folder: Path, file_name: str, included_from: str | None) -> str:
    path = folder / file_name
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if included_from is not None:
            raise FileNotFoundError(f"{included_from}: #include \"{file_name}\" not found in {folder}") from None
        known = sorted(p.stem for p in folder.glob("*.cu"))
        hint = did_you_mean(Path(file_name).stem, known)
        raise FileNotFoundError(
            f"kernel file '{file_name}' not found in {folder} (kernels: {', '.join(known) or 'none'})"
            + (f"; {hint}" if hint else "")
        ) from None


def _inline(folder: Path, file_name: str, included_from: str | None, seen: set[str], out: list[str]) -> None:
    """Append ``file_name`` to ``out`` with its quoted includes replaced by the headers' text, each once.

    Each header is inlined at its first include only (as if it had ``#pragma once``), which also stops cycles.
    """
    seen.add(file_name)
    out.append(f'#line 1 "{file_name}"')
    lines = _read(folder, file_name, included_from).splitlines()
    for line_number, line in enumerate(lines, start=1):
        match = _INCLUDE.match(line)
        if match is None:
            # `#pragma once` in what is now one translation unit draws an NVRTC warning; the inliner does its job.
            out.append("" if _PRAGMA_ONCE.match(line) else line)
            continue
        header = match.group("header")
        if header in seen:
            out.append(f"// {line.strip()}: already inlined")
            continue
        _inline(folder, header, f"{file_name}:{line_number}", seen, out)
        # Re-anchor: the next line of this file is line_number + 1.
        out.append(f'#line {line_number + 1} "{file_name}"')


def inline_source(kernel_file: str, folder: str | Path | None = None) -> str:
    """The full source of ``kernels/<kernel_file>.cu`` with its ``#include "x.cuh"`` headers inlined recursively.

    Each inlined file starts with ``#line 1 "x.cuh"`` and the including file resumes with ``#line N "name.cu"``,
    so compiler messages point at the real file and line. ``folder`` defaults to the bundled kernels folder.
    """
    folder = Path(folder) if folder is not None else kernels_dir()
    out: list[str] = []
    _inline(folder, _kernel_file_name(kernel_file), None, set(), out)
    return "\n".join(out) + "\n"


def source_hash(source: str) -> str:
    """SHA-256 (hex) of an inlined source: the part of the compile options that tracks header changes."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _real_type(dtype) -> str:
    name = getattr(dtype, "name", None) or getattr(dtype, "__name__", None) or str(dtype)
    if name not in REAL_TYPES:
        hint = did_you_mean(name, REAL_TYPES)
        raise UserError(f"kernel dtype '{name}' is not supported; allowed: {', '.join(REAL_TYPES)}"
                        + (f" ({hint})" if hint else ""))
    return REAL_TYPES[name]


def compile_options(source: str, dtype="float64", extra_options: tuple[str, ...] = ()) -> tuple[str, ...]:
    """NVRTC options for ``source``: C++17, ``TOKENSIM_REAL`` for ``dtype``, the source hash, then ``extra_options``."""
    return (*BASE_OPTIONS, f"-DTOKENSIM_REAL={_real_type(dtype)}",
            f"-DTOKENSIM_SOURCE_HASH=sha256_{source_hash(source)}", *extra_options)


def get_module(kernel_file: str, *, dtype="float64", extra_options: tuple[str, ...] = (),
               name_expressions: tuple[str, ...] = ()):
    """The compiled ``cupy.RawModule`` for ``kernels/<kernel_file>.cu``, built on first use and cached.

    ``name_expressions`` lists template instantiations to make retrievable (``"f<double>"``); ``extern "C"``
    kernels need none. The cache key is (file, dtype, extra options, name expressions).
    """
    real = _real_type(dtype)
    key = (_kernel_file_name(kernel_file), real, tuple(extra_options), tuple(name_expressions))
    with _cache_lock:
        module = _cache.get(key)
        if module is None:
            import cupy  # deferred: `import tokensim` must not import CuPy (DESIGN.md section 9)

            source = inline_source(kernel_file)
            options = compile_options(source, dtype, tuple(extra_options))
            module = cupy.RawModule(code=source, options=options, name_expressions=tuple(name_expressions) or None)
            _cache[key] = module
    return module


def get_function(kernel_file: str, function_name: str, *, dtype="float64"):
    """A kernel from ``kernels/<kernel_file>.cu`` as a ``cupy.RawKernel``, compiled for ``dtype`` on first use.

    ``function_name`` is an ``extern "C"`` name, or a template instantiation such as ``"mc_paths<float>"``.
    """
    name_expressions = (function_name,) if "<" in function_name else ()
    module = get_module(kernel_file, dtype=dtype, name_expressions=name_expressions)
    return module.get_function(function_name)


def clear_cache() -> None:
    """Forget compiled modules (CuPy's on-disk cache still applies); for tests and interactive kernel work."""
    with _cache_lock:
        _cache.clear()


def main(argv: list[str] | None = None) -> int:
    """Print the inlined source of one kernel file, for nvcc checks: ``python -m tokensim._kernels NAME``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tokensim._kernels KERNEL_FILE", file=sys.stderr)
        return 2
    sys.stdout.write(inline_source(args[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
