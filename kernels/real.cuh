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

// Two standard normals of counter (month, stream, path), as tokensim._rng.normals: Box-Muller on the same two
// uniforms. In double this is philox_normals itself; in float the uniforms (exact in double) are rounded to float and
// r = sqrt(-2 log u0), theta = 2 pi u1 are taken in float (sincospi keeps theta accurate over the whole circle).
__device__ __forceinline__ void mc_normals(unsigned long long seed, unsigned int month, unsigned int stream,
                                           unsigned long long path, double* z0, double* z1) {
    const double2 z = philox_normals(seed, month, stream, path);
    *z0 = z.x;
    *z1 = z.y;
}
__device__ __forceinline__ void mc_normals(unsigned long long seed, unsigned int month, unsigned int stream,
                                           unsigned long long path, float* z0, float* z1) {
    const double2 u = philox_uniforms(seed, month, stream, path);
    const float radius = sqrtf(-2.0f * logf((float)u.x));
    float sin_theta, cos_theta;
    sincospif(2.0f * (float)u.y, &sin_theta, &cos_theta);
    *z0 = radius * cos_theta;
    *z1 = radius * sin_theta;
}

#endif  // TOKENSIM_REAL_CUH
