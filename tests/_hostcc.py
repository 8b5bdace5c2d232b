"""Building a CUDA kernel file as host C++ so that its mathematics can be compared with NumPy without a GPU.

The prelude maps the CUDA keywords and intrinsics the kernels use onto plain C++ (one "thread": block and grid of
size 1), so ``kernels/<name>.cu`` with its headers inlined compiles with g++ into a shared library loaded by ctypes.
There ``__constant__`` symbols are plain globals: :func:`write_host_constants` fills them from the launchers' constant
images, as :func:`tokensim._kernels.write_constants` fills the device's. :func:`layout_probe` compiles in the C
compiler's own ``sizeof`` and ``offsetof`` of the structs the launchers pack, so the tests can hold
:func:`tokensim._kernels.struct_layout` to them. Used by tests/test_montecarlo.py and tests/test_sweep.py.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from tokensim import _kernels

HOST_PRELUDE = r"""
#include <cmath>
#include <cstddef>
#include <cstring>
#include <math.h>
#define __device__
#define __host__
#define __global__
#define __forceinline__ inline
#define __noinline__
#define __restrict__ __restrict
#define __shared__
#define __constant__
struct uint2 { unsigned int x, y; };
struct uint4 { unsigned int x, y, z, w; };
struct double2 { double x, y; };
static inline uint2 make_uint2(unsigned a, unsigned b) { return uint2{a, b}; }
static inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return uint4{a, b, c, d}; }
static inline double2 make_double2(double a, double b) { return double2{a, b}; }
static inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}
static inline double __longlong_as_double(unsigned long long v) { double d; std::memcpy(&d, &v, 8); return d; }
static inline long long __double_as_longlong(double d) { long long v; std::memcpy(&v, &d, 8); return v; }
static inline unsigned int __float_as_uint(float f) { unsigned int v; std::memcpy(&v, &f, 4); return v; }
// The device's float intrinsics, computed exactly on the host (their approximation error is the device's own).
// (Macros: glibc declares functions of these names itself.)
static inline float host_logf(float x) { return std::log(x); }
static inline void host_sincosf(float x, float* s, float* c) { *s = std::sin(x); *c = std::cos(x); }
static inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
#define __logf(x) host_logf(x)
#define __sincosf(x, s, c) host_sincosf(x, s, c)
static inline void sincospif(float x, float* s, float* c) {
    *s = (float)std::sin(M_PI * (double)x); *c = (float)std::cos(M_PI * (double)x);
}
struct dim3h { unsigned int x, y, z; };
static dim3h blockIdx = {0, 0, 0}, threadIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
"""


def build_host_kernels(kernel: str, folder, extra_prelude: str = "", epilogue: str = "",
                       defines: dict[str, tuple[str, ...]] | None = None) -> dict:
    """``kernels/<kernel>.cu`` built for the host in double and float: {"float64": CDLL, "float32": CDLL}.

    ``extra_prelude`` goes before the kernel's source, ``epilogue`` after it (helpers the tests call); ``defines``
    maps a dtype to extra ``-D`` options for its build (the launcher's compile options)."""
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler to build the kernel for the host")
    (folder / "prelude.h").write_text(HOST_PRELUDE + extra_prelude)
    (folder / f"{kernel}.cpp").write_text(_kernels.inline_source(kernel) + epilogue)
    libraries = {}
    for dtype, real in (("float64", "double"), ("float32", "float")):
        lib = folder / f"{kernel}_{real}.so"
        built = subprocess.run([compiler, "-O1", "-std=c++17", "-fPIC", "-shared", "-Wno-unknown-pragmas",
                                "-Wno-attributes", f"-DTOKENSIM_REAL={real}", *(defines or {}).get(dtype, ()),
                                "-include", str(folder / "prelude.h"),
                                str(folder / f"{kernel}.cpp"), "-o", str(lib)], capture_output=True, text=True)
        if built.returncode != 0:
            raise AssertionError(f"{kernel}.cu does not build for the host ({real}):\n{built.stderr[-4000:]}")
        libraries[dtype] = ctypes.CDLL(str(lib))
    return libraries


def write_host_constants(lib, images: Mapping[str, np.ndarray]) -> None:
    """Copy constant images (symbol name -> host array) into the host build's globals of the same names."""
    for name, image in images.items():
        data = _kernels.image_bytes(image)
        ctypes.memmove(ctypes.addressof(ctypes.c_char.in_dll(lib, name)), data.ctypes.data, data.size)


def layout_probe(layouts: Sequence[_kernels.StructLayout]) -> str:
    """C++ to append to a host build (``epilogue``): for each struct ``S`` a function ``layout_probe_S(offsets)`` that
    writes ``offsetof`` of every leaf field (nested ones by their dotted path) and returns ``sizeof(S)``."""
    out = []
    for layout in layouts:
        lines = [f"    offsets[{k}] = offsetof({layout.name}, {f.name});" for k, f in enumerate(layout.fields)]
        out.append(f'extern "C" unsigned long layout_probe_{layout.name}(unsigned long* offsets) {{\n'
                   + "\n".join(lines) + f"\n    return sizeof({layout.name});\n}}\n")
    return "".join(out)


def probed_layout(lib, layout: _kernels.StructLayout) -> tuple[int, list[int]]:
    """(sizeof, field offsets) of ``layout``'s struct as the host compiler laid it out (see :func:`layout_probe`)."""
    probe = getattr(lib, f"layout_probe_{layout.name}")
    probe.restype = ctypes.c_ulong
    offsets = (ctypes.c_ulong * len(layout.fields))()
    size = probe(offsets)
    return int(size), [int(v) for v in offsets]
