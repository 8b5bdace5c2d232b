"""Building a CUDA kernel file as host C++ so that its mathematics can be compared with NumPy without a GPU.

The prelude maps the CUDA keywords and intrinsics the kernels use onto plain C++ (one "thread": block and grid of
size 1), so ``kernels/<name>.cu`` with its headers inlined compiles with g++ into a shared library loaded by ctypes.
Used by tests/test_montecarlo.py and tests/test_sweep.py.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import pytest

from tokensim import _kernels

HOST_PRELUDE = r"""
#include <cmath>
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
