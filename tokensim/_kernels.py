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

Kernel inputs, one way for every kernel (issue 10): a kernel's parameter struct is declared once, in its header, and
:func:`struct_layout` reads it from the inlined source (fields in order, C types, counts, byte offsets, size) as a
NumPy structured dtype with C alignment; :meth:`StructLayout.pack` fills one record from a mapping of field values
(dotted names for nested structs: ``step.prefill.compute_efficiency``) and fails on a field without a value, a value
without a field, a wrong count or a fractional integer. :func:`header_defines` reads the integer ``#define``s. The
parameter record of each kernel lives in a ``__constant__`` symbol (every thread reads the same parameter at the same
time, which constant memory serves in one cycle, and an instruction can take it as an operand: DESIGN.md, the
Monte Carlo profile of benchmarks/profile_montecarlo_h200.log), and :func:`write_constants` copies a dict of images
(symbol name -> host array, :func:`image_bytes`) into a compiled module before its launch. Per-thread tables of
variable length (the sweep's UcRecords and axis values) stay device arrays passed as kernel arguments, packed with
the same :meth:`StructLayout.pack_many`.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import UserError, did_you_mean
from ._paths import kernels_dir

__all__ = [
    "REAL_TYPES",
    "BASE_OPTIONS",
    "inline_source",
    "source_hash",
    "compile_options",
    "get_module",
    "get_function",
    "clear_cache",
    "StructField",
    "StructLayout",
    "struct_layout",
    "header_defines",
    "image_bytes",
    "write_constants",
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
    """Forget compiled modules (CuPy's on-disk cache still applies) and parsed struct layouts; for tests and
    interactive kernel work."""
    with _cache_lock:
        _cache.clear()
    _parsed_source.cache_clear()


# -- struct layouts and constant images ------------------------------------------------------------------------------

# C types a struct field may have, as NumPy scalar types; ``real`` is TOKENSIM_REAL (REAL_TYPES of the dtype).
C_SCALARS: dict[str, type[np.generic]] = {
    "double": np.float64, "float": np.float32, "int": np.int32, "unsigned int": np.uint32,
    "long long": np.int64, "unsigned long long": np.uint64,
}
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_STRUCT = re.compile(r"\bstruct\s+(?P<name>\w+)\s*\{(?P<body>[^{}]*)\}\s*;")
_FIELD = re.compile(r"(?P<type>(?:unsigned\s+)?(?:long\s+long|\w+))\s+(?P<name>\w+)\s*(?:\[\s*(?P<count>\w+)\s*\])?")
_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(?P<name>\w+)[ \t]+(?P<value>-?\d+)[ \t]*$", re.M)


@dataclass(frozen=True)
class StructField:
    """One value slot of a C struct, nested structs flattened.

    Attributes
    ----------
    name : str
        Field name; fields of a nested struct are dotted (``step.prefill.compute_efficiency``).
    ctype : str
        C type as declared (``double``, ``int``, ``real``, ...).
    count : int
        Number of elements (1 for a scalar, N for ``x[N]``).
    offset : int
        Byte offset of the first element from the start of the outermost struct.
    """

    name: str
    ctype: str
    count: int
    offset: int


@dataclass(frozen=True)
class StructLayout:
    """A C struct of a kernel header as NumPy sees it: its leaf fields and a structured dtype with C alignment.

    Attributes
    ----------
    kernel_file : str
        The kernel file whose inlined source declares the struct (``montecarlo.cu``).
    name : str
        The struct's C name (``McParams``).
    fields : tuple of StructField
        Leaf fields in declaration order (nested structs flattened, dotted names).
    dtype : numpy.dtype
        Structured dtype (``align=True``, nested structs as nested dtypes) whose itemsize and offsets are the C
        struct's.
    """

    kernel_file: str
    name: str
    fields: tuple[StructField, ...]
    dtype: np.dtype

    @property
    def size(self) -> int:
        """Size of one record in bytes: ``sizeof`` of the C struct."""
        return int(self.dtype.itemsize)

    @property
    def values(self) -> int:
        """Number of value slots (an array field counts each element)."""
        return sum(f.count for f in self.fields)

    @property
    def names(self) -> tuple[str, ...]:
        """Leaf field names in declaration order."""
        return tuple(f.name for f in self.fields)

    def pack(self, values: Mapping[str, Any]) -> np.ndarray:
        """One record (a 0-d structured array) with every field set from ``values``.

        Parameters
        ----------
        values : mapping of str to scalar or array-like
            Value of each leaf field by (dotted) name; array fields take exactly ``count`` values. Each value is
            read as float64 and converted to the field's type (round to nearest for ``float``/``real``; integer
            fields must hold whole numbers).

        Returns
        -------
        numpy.ndarray
            0-d array of :attr:`dtype`; :func:`image_bytes` gives the bytes the device reads.

        Raises
        ------
        RuntimeError
            A field without a value, a value without a field, a wrong number of values, or a fractional value for an
            integer field: the header and the packing code disagree.
        """
        where = f"kernels/{self.kernel_file}: {self.name}"
        extra = sorted(set(values) - set(self.names))
        if extra:
            raise RuntimeError(f"{where} has no field for the values {', '.join(extra)}")
        record = np.zeros((), dtype=self.dtype)
        for field in self.fields:
            if field.name not in values:
                raise RuntimeError(f"{where}.{field.name} has no value")
            value = np.asarray(values[field.name], dtype=np.float64).reshape(-1)
            if value.size != field.count:
                raise RuntimeError(f"{where}.{field.name}: {value.size} values for {field.count} slots")
            slot = record
            for part in field.name.split("."):
                slot = slot[part]
            if np.issubdtype(slot.dtype, np.integer) and not np.array_equal(value, np.round(value)):
                raise RuntimeError(f"{where}.{field.name} is an integer field ({field.ctype}); got {value}")
            # Converted to the field's type: to nearest for reals; integers are whole (checked above).
            slot[...] = value[0] if field.count == 1 else value
        return record

    def pack_many(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """An array of records, one per mapping of ``rows`` (each packed as :meth:`pack`).

        Parameters
        ----------
        rows : sequence of mappings of str to scalar or array-like
            Field values of each record, as :meth:`pack` takes them.

        Returns
        -------
        numpy.ndarray
            1-d array of :attr:`dtype`, ``len(rows)`` records laid out as a C array of the struct.
        """
        out = np.zeros(len(rows), dtype=self.dtype)
        for k, row in enumerate(rows):
            out[k] = self.pack(row)
        return out


@functools.lru_cache(maxsize=32)
def _parsed_source(folder: str, file_name: str) -> tuple[dict[str, str], dict[str, int]]:
    """(struct bodies by name, integer #defines by name) of a kernel file's inlined source, comments removed."""
    text = _COMMENT.sub("", inline_source(file_name, folder))
    structs: dict[str, str] = {}
    for match in _STRUCT.finditer(text):
        if match.group("name") in structs:
            raise RuntimeError(f"kernels/{file_name}: struct {match.group('name')} is declared twice")
        structs[match.group("name")] = match.group("body")
    defines: dict[str, int] = {}
    for match in _DEFINE.finditer(text):
        name, value = match.group("name"), int(match.group("value"))
        if defines.get(name, value) != value:
            raise RuntimeError(f"kernels/{file_name}: #define {name} has two values ({defines[name]} and {value})")
        defines[name] = value
    return structs, defines


def _members(file_name: str, structs: dict[str, str], name: str) -> list[tuple[str, str, str | None]]:
    """(C type, field name, array count as written or None) of each field of ``struct name``, in order."""
    if name not in structs:
        raise RuntimeError(f"kernels/{file_name}: struct {name} not found")
    out = []
    for statement in structs[name].split(";"):
        code = " ".join(statement.split())
        if not code:
            continue
        match = _FIELD.fullmatch(code)
        if match is None:
            raise RuntimeError(f"kernels/{file_name}: {name}: a field must be `type name;` or `type name[N];` with "
                               f"N a number or an integer #define, got {code!r}")
        out.append((" ".join(match.group("type").split()), match.group("name"), match.group("count")))
    return out


def _flatten(file_name: str, structs: dict[str, str], defines: dict[str, int], name: str, real: str,
             seen: tuple[str, ...] = ()) -> tuple[np.dtype, list[tuple[str, str, int]]]:
    """The aligned structured dtype of ``struct name`` and its leaf fields (dotted name, C type, count)."""
    if name in seen:
        raise RuntimeError(f"kernels/{file_name}: struct {name} contains itself")
    members: list[tuple[Any, ...]] = []
    leaves: list[tuple[str, str, int]] = []
    for ctype, field, count_text in _members(file_name, structs, name):
        count = 1
        if count_text is not None:
            resolved = int(count_text) if count_text.isdigit() else defines.get(count_text)
            if resolved is None:
                raise RuntimeError(f"kernels/{file_name}: {name}.{field}[{count_text}]: {count_text} is not an "
                                   "integer #define")
            count = resolved
        if ctype == "real" or ctype in C_SCALARS:
            scalar: Any = C_SCALARS[real if ctype == "real" else ctype]
            leaves.append((field, ctype, count))
        else:
            if count_text is not None:
                raise RuntimeError(f"kernels/{file_name}: {name}.{field}: arrays of structs are not supported")
            scalar, inner = _flatten(file_name, structs, defines, ctype, real, (*seen, name))
            leaves.extend((f"{field}.{leaf}", leaf_type, leaf_count) for leaf, leaf_type, leaf_count in inner)
        members.append((field, scalar) if count_text is None else (field, scalar, (count,)))
    return np.dtype(members, align=True), leaves


def _offset(dtype: np.dtype, dotted: str) -> int:
    offset = 0
    for part in dotted.split("."):
        assert dtype.fields is not None
        sub, at = dtype.fields[part][:2]
        offset += at
        dtype = sub
    return offset


def struct_layout(kernel_file: str, struct: str, dtype="float64", folder: str | Path | None = None) -> StructLayout:
    """The layout of ``struct`` as the kernel file ``kernel_file`` (with its headers) declares it.

    Parameters
    ----------
    kernel_file : str
        Kernel file name with or without ``.cu`` (``"montecarlo"``); the struct may sit in any header it includes.
    struct : str
        The struct's C name (``"McParams"``). Fields may be ``double``, ``float``, ``int``, ``unsigned int``,
        ``long long``, ``unsigned long long``, ``real`` (TOKENSIM_REAL) or another struct of the source, as scalars
        or one-dimensional arrays sized by a number or an integer ``#define``.
    dtype : str or numpy dtype, default "float64"
        The kernel's floating type: what ``real`` fields become (``float64`` -> double, ``float32`` -> float).
    folder : str or Path, optional
        Kernels folder; the bundled one by default.

    Returns
    -------
    StructLayout
        Leaf fields with their C types, counts and byte offsets, and the structured dtype (size = ``sizeof``).

    Raises
    ------
    RuntimeError
        The struct is missing or has a field this reader does not understand.
    """
    real = _real_type(dtype)
    folder_path = Path(folder) if folder is not None else kernels_dir()
    file_name = _kernel_file_name(kernel_file)
    structs, defines = _parsed_source(str(folder_path), file_name)
    record, leaves = _flatten(file_name, structs, defines, struct, real)
    fields = tuple(StructField(name, ctype, count, _offset(record, name)) for name, ctype, count in leaves)
    return StructLayout(file_name, struct, fields, record)


def header_defines(kernel_file: str, prefixes: tuple[str, ...] = (),
                   folder: str | Path | None = None) -> dict[str, int]:
    """The integer-valued ``#define``s of a kernel file and the headers it includes.

    Parameters
    ----------
    kernel_file : str
        Kernel file name with or without ``.cu``.
    prefixes : tuple of str, optional
        Keep only names starting with one of these (``("MC_",)``); all by default.
    folder : str or Path, optional
        Kernels folder; the bundled one by default.

    Returns
    -------
    dict of str to int
        Value of each ``#define NAME <integer>`` (macros with arguments and non-integer values are left out).
    """
    folder_path = Path(folder) if folder is not None else kernels_dir()
    _, defines = _parsed_source(str(folder_path), _kernel_file_name(kernel_file))
    return {k: v for k, v in defines.items() if not prefixes or k.startswith(prefixes)}


def image_bytes(image: np.ndarray) -> np.ndarray:
    """The bytes of a host image as a device copy (or a host build's memmove) takes them.

    Parameters
    ----------
    image : numpy.ndarray
        A structured record or array of records, rows of reals, or keys.

    Returns
    -------
    numpy.ndarray
        C-contiguous ``uint8`` array of ``image.nbytes`` bytes.
    """
    return np.ascontiguousarray(image).reshape(-1).view(np.uint8)


def write_constants(module, images: Mapping[str, np.ndarray]) -> None:
    """Copy host images into the ``__constant__`` symbols of a compiled module, on the current stream.

    The copies are ordered before any later launch on the same stream, so a launch reads the images written just
    before it. Imports CuPy.

    Parameters
    ----------
    module : cupy.RawModule
        The module (:func:`get_module`) that declares the symbols.
    images : mapping of str to numpy.ndarray
        Host image (:func:`image_bytes` gives its bytes) by symbol name.
    """
    import cupy  # deferred: `import tokensim` must not import CuPy

    for name, image in images.items():
        data = image_bytes(image)
        symbol = cupy.ndarray((data.size,), dtype=cupy.uint8, memptr=module.get_global(name))
        symbol.set(data)


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
