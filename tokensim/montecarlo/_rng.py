"""Counter-based random numbers: Philox4x32-10 in NumPy, the twin of ``kernels/philox.cuh``.

Why counter-based: a Monte Carlo path's numbers are a pure function of (seed, month, driver, path), so results are
identical for any chunk size, any number of workers and either backend (DESIGN.md section 8). There is no generator
state to split, save or advance.

Layout (DESIGN.md section 8), the same in ``kernels/philox.cuh``:

- key     = (seed low 32 bits, seed high 32 bits)
- counter = (month, stream, path low 32 bits, path high 32 bits); ``stream`` is the driver id
- one Philox call gives four 32-bit words x0..x3; u0 is made from (x0, x1), u1 from (x2, x3)

The block function is Philox4x32-10 exactly as Random123 (``include/Random123/philox.h``) and cuRAND's
``curandStatePhilox4_32_10`` (``curand_philox4x32_x.h``) define it: same multipliers, Weyl key increments, round
function and 10 rounds, so outputs equal the Random123 known-answer vectors (``tests/test_rng.py``).
``numpy.random.Philox`` is the 4x64 variant and does not match.

Uniform formula (:func:`uniform_from_words`, exact in float64, identical on the device)::

    n = (hi >> 6) * 2**26 + (lo >> 6)          # 52 bits: the top 26 bits of each word
    u = (n + 0.5) * 2**-52                     # = (2n + 1) * 2**-53

``u`` is an odd multiple of 2**-53, so it lies in [2**-53, 1 - 2**-53]: never 0 (``log(u)`` is finite) and never 1.
The grid is symmetric (``1 - u`` is also on it). Why 52 and not 53 bits: float64 cannot represent the midpoints
(n + 0.5) * 2**-53 for n >= 2**52 (the spacing in [0.5, 1) is 2**-53), so a 53-bit midpoint formula rounds: half
the top values collide and n = 2**53 - 1 rounds to exactly 1.0 (cuRAND's ``curand_uniform_double`` documents that it
can return 1.0 for this reason). With 52 bits every step is exact, so NumPy and CUDA agree bit for bit whatever
the compiler does with fused multiply-adds.

Normals (:func:`box_muller`): ``r = sqrt(-2 log u0)``, ``theta = 2 pi u1``, ``z0 = r cos theta``,
``z1 = r sin theta`` in float64. They match the device to the rounding of ``log``/``sin``/``cos`` (a few ulp).
The largest |z| is sqrt(-2 log 2**-53), about 8.57.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._xp import array_namespace

__all__ = [
    "PHILOX_M4X32_0",
    "PHILOX_M4X32_1",
    "PHILOX_W32_0",
    "PHILOX_W32_1",
    "PHILOX_ROUNDS",
    "philox4x32_10",
    "key_from_seed",
    "round_keys",
    "draw_words",
    "uniform_from_words",
    "uniforms",
    "box_muller",
    "normals",
]

# Round multipliers and Weyl key increments of Philox4x32: Random123 include/Random123/philox.h
# (PHILOX_M4x32_0, PHILOX_M4x32_1, PHILOX_W32_0 = golden ratio, PHILOX_W32_1 = sqrt(3) - 1, as 32-bit fractions),
# identical in cuRAND's curand_philox4x32_x.h; Salmon et al., "Parallel Random Numbers: As Easy as 1, 2, 3", SC11.
PHILOX_M4X32_0 = 0xD2511F53
PHILOX_M4X32_1 = 0xCD9E8D57
PHILOX_W32_0 = 0x9E3779B9
PHILOX_W32_1 = 0xBB67AE85
# Ten rounds is Random123's default and cuRAND's Philox4_32_10 ("-10"): the variant with the published
# known-answer vectors and a safety margin over the 7 rounds that already pass BigCrush.
PHILOX_ROUNDS = 10

_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_M0 = np.uint64(PHILOX_M4X32_0)
_M1 = np.uint64(PHILOX_M4X32_1)
_W0 = np.uint64(PHILOX_W32_0)
_W1 = np.uint64(PHILOX_W32_1)
_TWO_POW_M52 = 2.0**-52
_TWO_PI = 2.0 * math.pi


def _as_words(value, what: str) -> np.ndarray:
    """An integer array of 32-bit words, held as uint64 so products of two words fit without overflow."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "ui":
        raise TypeError(f"{what} must be unsigned 32-bit integers, got dtype {arr.dtype}")
    if arr.dtype in (np.uint8, np.uint16, np.uint32):
        return arr.astype(np.uint64)
    if arr.size and (arr.min() < 0 or arr.max() > 0xFFFFFFFF):
        raise ValueError(f"{what} must lie in [0, 2**32), got values in [{arr.min()}, {arr.max()}]")
    return arr.astype(np.uint64)


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 block function on 32-bit words, vectorised with NumPy broadcasting.

    Parameters
    ----------
    c0, c1, c2, c3 : array_like of uint32
        The four counter words.
    k0, k1 : array_like of uint32
        The two key words.

    Returns
    -------
    x0, x1, x2, x3 : ndarray of uint32
        The four output words, in the broadcast shape of the inputs.
    """
    x0, x1, x2, x3 = (_as_words(c, f"counter word c{i}") for i, c in enumerate((c0, c1, c2, c3)))
    key0, key1 = _as_words(k0, "key word k0"), _as_words(k1, "key word k1")
    for round_index in range(PHILOX_ROUNDS):
        if round_index:
            # Key schedule: Weyl increments before rounds 2..10 (Random123 _philox4x32bumpkey).
            key0 = (key0 + _W0) & _MASK32
            key1 = (key1 + _W1) & _MASK32
        # mulhilo in uint64: a 32x32-bit product is below 2**64, so hi = p >> 32 and lo = p & mask are exact.
        product0 = _M0 * x0
        product1 = _M1 * x2
        x0, x1, x2, x3 = (
            (product1 >> _SHIFT32) ^ x1 ^ key0,
            product1 & _MASK32,
            (product0 >> _SHIFT32) ^ x3 ^ key1,
            product0 & _MASK32,
        )
    shape = np.broadcast_shapes(x0.shape, x1.shape, x2.shape, x3.shape)
    return tuple(np.broadcast_to(x, shape).astype(np.uint32) for x in (x0, x1, x2, x3))


def key_from_seed(seed: int) -> tuple[int, int]:
    """Split a 64-bit seed into the Philox key words (seed low 32 bits, seed high 32 bits)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed}")
    return seed & 0xFFFFFFFF, seed >> 32


def round_keys(seed: int) -> np.ndarray:
    """The key schedule of ``seed``: uint32 array (PHILOX_ROUNDS, 2), row r = the key words of round r + 1.

    Round 1 uses the key itself; each later round adds the Weyl increments (mod 2**32), as :func:`philox4x32_10`
    bumps them. The CUDA kernels that draw many blocks under one seed read this table from constant memory
    (``philox_round_keys`` / ``philox4x32_10_scheduled`` in ``kernels/philox.cuh``).
    """
    k0, k1 = key_from_seed(seed)
    rounds = np.arange(PHILOX_ROUNDS, dtype=np.uint64)
    return np.stack([(np.uint64(k0) + rounds * _W0) & _MASK32, (np.uint64(k1) + rounds * _W1) & _MASK32],
                    axis=1).astype(np.uint32)


def _as_paths(paths):
    xp = array_namespace(paths)  # a CuPy array stays on its device (the benchmark's unfused GPU baseline)
    arr = xp.asarray(paths)
    if arr.dtype.kind not in "ui":
        raise TypeError(f"paths must be integer path indices, got dtype {arr.dtype}")
    if arr.dtype.kind == "i" and arr.size and arr.min() < 0:
        raise ValueError(f"path indices must be >= 0, got {arr.min()}")
    return arr.astype(xp.uint64, copy=False)


def draw_words(seed: int, month, stream, paths):
    """The four Philox words for counter (month, stream, path low, path high) under the key of ``seed``.

    ``month`` and ``stream`` are uint32 scalars or arrays broadcasting against ``paths`` (uint64/int64 path
    indices, any order and any subset). Twin of ``philox_draw_words`` in ``kernels/philox.cuh``. With scalar month
    and stream and 1-D paths it takes a faster path (:func:`_philox_paths`, same words); there ``paths`` may also be
    a CuPy array, computed on its device (the Monte Carlo benchmark's unfused GPU baseline).
    """
    k0, k1 = key_from_seed(seed)
    path = _as_paths(paths)
    if np.ndim(month) == 0 and np.ndim(stream) == 0 and path.ndim == 1:
        c0, c1 = int(month), int(stream)
        if 0 <= c0 <= 0xFFFFFFFF and 0 <= c1 <= 0xFFFFFFFF:
            return _philox_paths(c0, c1, (path & _MASK32).astype(np.uint32), (path >> _SHIFT32).astype(np.uint32),
                                 k0, k1)
    if array_namespace(path) is not np:
        raise TypeError("device path arrays need scalar month and stream")
    return philox4x32_10(month, stream, path & _MASK32, path >> _SHIFT32, k0, k1)


def _philox_paths(c0: int, c1: int, c2, c3, k0: int, k1: int):
    """:func:`philox4x32_10` for scalar counter words c0, c1 (month, stream) and path words c2, c3 (uint32 arrays).

    The same rounds with fewer array passes (the Monte Carlo's hot path, about 3x faster on a CPU): each 64-bit
    product is viewed as its two 32-bit halves (little-endian: low word first) instead of shifted and masked, and
    the products of two rounds alternate between two buffers so that a round reads the previous round's halves while
    writing its own. tests/test_drivers.py checks it against :func:`philox4x32_10` word for word.
    """
    xp = array_namespace(c2)
    if not np.little_endian:  # pragma: no cover - the halves below assume the low word first
        return philox4x32_10(c0, c1, c2, c3, k0, k1)
    n = c2.shape[0]
    buffers = [(xp.empty(n, np.uint64), xp.empty(n, np.uint64)) for _ in range(2)]
    x0 = xp.empty(n, np.uint32)
    x2 = xp.empty(n, np.uint32)
    key0, key1 = k0, k1
    # Round 1: x0 = c0 and x1 = c1 are scalars.
    product0, product1 = buffers[0]
    product0.fill(PHILOX_M4X32_0 * c0)
    xp.multiply(c2, _M1, out=product1, dtype=np.uint64)
    h0, h1 = product0.view(np.uint32), product1.view(np.uint32)
    xp.bitwise_xor(h1[1::2], np.uint32(c1 ^ key0), out=x0)
    xp.bitwise_xor(h0[1::2], c3, out=x2)
    xp.bitwise_xor(x2, np.uint32(key1), out=x2)
    x1, x3 = h1[0::2], h0[0::2]
    for round_index in range(1, PHILOX_ROUNDS):
        key0 = (key0 + PHILOX_W32_0) & 0xFFFFFFFF
        key1 = (key1 + PHILOX_W32_1) & 0xFFFFFFFF
        product0, product1 = buffers[round_index % 2]
        xp.multiply(x0, _M0, out=product0, dtype=np.uint64)
        xp.multiply(x2, _M1, out=product1, dtype=np.uint64)
        h0, h1 = product0.view(np.uint32), product1.view(np.uint32)
        xp.bitwise_xor(h1[1::2], x1, out=x0)
        xp.bitwise_xor(x0, np.uint32(key0), out=x0)
        xp.bitwise_xor(h0[1::2], x3, out=x2)
        xp.bitwise_xor(x2, np.uint32(key1), out=x2)
        x1, x3 = h1[0::2], h0[0::2]
    return x0, xp.ascontiguousarray(x1), x2, xp.ascontiguousarray(x3)


def uniform_from_words(hi, lo) -> np.ndarray:
    """A float64 uniform in the open interval (0, 1) from two 32-bit words.

    ``u = ((hi >> 6) * 2**26 + (lo >> 6) + 0.5) * 2**-52``: an odd multiple of 2**-53 in [2**-53, 1 - 2**-53].
    Every step is exact in float64 (see the module docstring). Twin of ``philox_uniform_from_words``.
    """
    xp = array_namespace(hi, lo)
    hi64 = xp.asarray(hi).astype(np.uint64)
    lo64 = xp.asarray(lo).astype(np.uint64)
    top52 = ((hi64 >> np.uint64(6)) << np.uint64(26)) | (lo64 >> np.uint64(6))
    return (top52.astype(np.float64) + 0.5) * _TWO_POW_M52


def uniforms(seed: int, month, stream, paths):
    """Two float64 uniforms in (0, 1) per (month, stream, path): u0 from words (x0, x1), u1 from (x2, x3).

    Path p's values depend only on (seed, month, stream, p). Twin of ``philox_uniforms`` in ``kernels/philox.cuh``.
    """
    x0, x1, x2, x3 = draw_words(seed, month, stream, paths)
    return uniform_from_words(x0, x1), uniform_from_words(x2, x3)


def box_muller(u0, u1):
    """Two independent standard normals from two uniforms in (0, 1), in float64. Twin of ``philox_box_muller``."""
    xp = array_namespace(u0, u1)
    radius = xp.sqrt(-2.0 * xp.log(u0))
    theta = _TWO_PI * xp.asarray(u1, dtype=np.float64)
    return radius * xp.cos(theta), radius * xp.sin(theta)


def normals(seed: int, month, stream, paths):
    """Two float64 standard normals per (month, stream, path) by Box-Muller from :func:`uniforms`.

    Twin of ``philox_normals`` in ``kernels/philox.cuh``; equal to it up to the rounding of log/sin/cos.
    """
    return box_muller(*uniforms(seed, month, stream, paths))
