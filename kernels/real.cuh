// The kernels' floating type and the math they use on it, for either precision.
//
// TOKENSIM_REAL is float or double (tokensim/_kernels.py passes -DTOKENSIM_REAL=float|double from the run's dtype);
// the overloads below pick the float or double device function explicitly, so no expression silently promotes to
// double in a float build (the FP64 rate of Blackwell Ultra is a small fraction of its FP32 rate).
// Header only, no system #include: NVRTC builds it without system headers.
#ifndef TOKENSIM_REAL_CUH
#define TOKENSIM_REAL_CUH

#include "philox.cuh"

#ifndef TOKENSIM_REAL
#define TOKENSIM_REAL double
#endif
typedef TOKENSIM_REAL real;

__device__ __forceinline__ float mc_exp(float x) { return expf(x); }
__device__ __forceinline__ double mc_exp(double x) { return exp(x); }
__device__ __forceinline__ float mc_log(float x) { return logf(x); }
__device__ __forceinline__ double mc_log(double x) { return log(x); }
__device__ __forceinline__ float mc_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double mc_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float mc_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double mc_abs(double x) { return fabs(x); }
__device__ __forceinline__ float mc_expm1(float x) { return expm1f(x); }
__device__ __forceinline__ double mc_expm1(double x) { return expm1(x); }
__device__ __forceinline__ float mc_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double mc_log1p(double x) { return log1p(x); }
// Finite = exponent bits not all ones (by the bits, so no math header and no fast-math folding can change it).
__device__ __forceinline__ bool mc_isfinite(float x) { return (__float_as_uint(x) & 0x7F800000u) != 0x7F800000u; }
__device__ __forceinline__ bool mc_isfinite(double x) {
    return ((unsigned long long)__double_as_longlong(x) & 0x7FF0000000000000ULL) != 0x7FF0000000000000ULL;
}
// np.minimum / np.maximum on non-NaN values; NaN never reaches them in the engine's month loop.
__device__ __forceinline__ real mc_min(real a, real b) { return b < a ? b : a; }
__device__ __forceinline__ real mc_max(real a, real b) { return b > a ? b : a; }

__device__ __forceinline__ real mc_nan() { return (real)__longlong_as_double(0x7FF8000000000000ULL); }
__device__ __forceinline__ real mc_inf() { return (real)__longlong_as_double(0x7FF0000000000000ULL); }

// The four Philox words of counter (month, stream, path) under a key schedule (philox_round_keys; the Monte Carlo
// kernel keeps it in constant memory, mc_round_keys).
__device__ __forceinline__ uint4 mc_words(const unsigned int* round_keys, unsigned int month, unsigned int stream,
                                          unsigned long long path) {
    return philox4x32_10_scheduled(philox_counter(month, stream, path), round_keys);
}

// Two uniforms of counter (month, stream, path), exactly tokensim.montecarlo._rng.uniforms.
__device__ __forceinline__ double2 mc_uniforms(const unsigned int* round_keys, unsigned int month, unsigned int stream,
                                               unsigned long long path) {
    return philox_uniforms_from_words(mc_words(round_keys, month, stream, path));
}

// Two standard normals of counter (month, stream, path), as tokensim.montecarlo._rng.normals: Box-Muller on the same
// two uniforms. In double this is philox_box_muller itself. In float (the fast run) the uniforms are the double ones
// rounded to float (philox_uniform_float_from_words, bit for bit) and the logarithm, sine and
// cosine are the hardware approximations: __logf within 2^-21.41 absolute on [0.5, 2] and 3 ulp elsewhere,
// __sincosf within 2^-21.41 absolute on [-pi, pi] (CUDA C++ Programming Guide, Mathematical Functions appendix,
// intrinsic functions), so theta - pi = 2 pi u1 - pi is passed and the signs flipped back
// (sin(t - pi) = -sin t, cos(t - pi) = -cos t). A normal is then within about 1e-6 of the double one, the size of
// float rounding of the month loop itself (tokensim.montecarlo.FLOAT32_TOLERANCE). -2 log u0 is clamped at 0: the
// approximation may put log u0 a hair above 0 when u0 is within 2^-21 of 1; the square root is r^2 rsqrt(r^2)
// (rsqrtf: 2 ulp). About 95 instructions a pair fewer than logf/sqrtf/sincospif (static count of the sm_90 build).
__device__ __forceinline__ void mc_normals(const unsigned int* round_keys, unsigned int month, unsigned int stream,
                                           unsigned long long path, double* z0, double* z1) {
    const double2 z = philox_box_muller(philox_uniforms_from_words(mc_words(round_keys, month, stream, path)));
    *z0 = z.x;
    *z1 = z.y;
}
__device__ __forceinline__ void mc_normals(const unsigned int* round_keys, unsigned int month, unsigned int stream,
                                           unsigned long long path, float* z0, float* z1) {
    const uint4 words = mc_words(round_keys, month, stream, path);
    const float u0 = philox_uniform_float_from_words(words.x, words.y);
    const float u1 = philox_uniform_float_from_words(words.z, words.w);
    const float radius_squared = fmaxf(-2.0f * __logf(u0), 0.0f);  // 0, or at least 1e-7 (u0 <= 1 - 2^-24)
    const float radius = radius_squared > 0.0f ? radius_squared * rsqrtf(radius_squared) : 0.0f;
    float sin_shifted, cos_shifted;  // of theta - pi
    __sincosf(fmaf(6.283185307179586f, u1, -3.141592653589793f), &sin_shifted, &cos_shifted);
    *z0 = -radius * cos_shifted;
    *z1 = -radius * sin_shifted;
}

#endif  // TOKENSIM_REAL_CUH
