// Counter-based random numbers on the device: Philox4x32-10, uniforms in (0, 1), Box-Muller normals.
//
// Twin of tokensim/montecarlo/_rng.py; each function here must equal the NumPy function named beside it:
//   philox4x32_10             == tokensim.montecarlo._rng.philox4x32_10        (bit for bit)
//   philox_key_from_seed      == tokensim.montecarlo._rng.key_from_seed        (bit for bit)
//   philox_round_keys         == tokensim.montecarlo._rng.round_keys           (bit for bit)
//   philox_draw_words         == tokensim.montecarlo._rng.draw_words           (bit for bit)
//   philox_uniform_from_words == tokensim.montecarlo._rng.uniform_from_words   (bit for bit: every step is exact)
//   philox_uniforms           == tokensim.montecarlo._rng.uniforms             (bit for bit)
//   philox_box_muller         == tokensim.montecarlo._rng.box_muller           (to the rounding of log/sin/cos)
//   philox_normals            == tokensim.montecarlo._rng.normals              (to the rounding of log/sin/cos)
// Checked by tests/test_rng.py::test_device_matches_numpy through kernels/philox_kat.cu.
//
// Layout (DESIGN.md section 8): key = (seed low 32, seed high 32); counter = (month, stream, path low 32,
// path high 32). A path's numbers depend on nothing but (seed, month, stream, path): any chunking, any backend.
//
// Uniform formula, exact in double: n = (hi >> 6) * 2^26 + (lo >> 6) (52 bits), u = (n + 0.5) * 2^-52, an odd
// multiple of 2^-53 in [2^-53, 1 - 2^-53]. 52 rather than 53 bits because (n + 0.5) * 2^-53 is not representable
// for n >= 2^52 and would round, up to exactly 1.0 (see the docstring of tokensim/montecarlo/_rng.py).
//
// Header only, no #include: NVRTC builds it without system headers; tokensim/_kernels.py inlines it.
#ifndef TOKENSIM_PHILOX_CUH
#define TOKENSIM_PHILOX_CUH

// Philox4x32 round multipliers and Weyl key increments (golden ratio, sqrt(3) - 1): Random123
// include/Random123/philox.h (PHILOX_M4x32_0/1, PHILOX_W32_0/1), the same values as cuRAND's
// curand_philox4x32_x.h; Salmon et al., "Parallel Random Numbers: As Easy as 1, 2, 3", SC11.
#define TOKENSIM_PHILOX_M4X32_0 0xD2511F53u
#define TOKENSIM_PHILOX_M4X32_1 0xCD9E8D57u
#define TOKENSIM_PHILOX_W32_0 0x9E3779B9u
#define TOKENSIM_PHILOX_W32_1 0xBB67AE85u
// Ten rounds: Random123's default and cuRAND's Philox4_32_10, the variant with published known-answer vectors.
#define TOKENSIM_PHILOX_ROUNDS 10

// One Philox round (Random123 _philox4x32round): two 32x32 -> 64-bit products, hi/lo mixed with the key.
__device__ __forceinline__ uint4 philox4x32_round(uint4 ctr, uint2 key) {
    const unsigned int hi0 = __umulhi(TOKENSIM_PHILOX_M4X32_0, ctr.x);
    const unsigned int lo0 = TOKENSIM_PHILOX_M4X32_0 * ctr.x;
    const unsigned int hi1 = __umulhi(TOKENSIM_PHILOX_M4X32_1, ctr.z);
    const unsigned int lo1 = TOKENSIM_PHILOX_M4X32_1 * ctr.z;
    return make_uint4(hi1 ^ ctr.y ^ key.x, lo1, hi0 ^ ctr.w ^ key.y, lo0);
}

// The ten round keys of a key, as pairs (x, y) in round_keys[2 r], round_keys[2 r + 1]: the key itself, then Weyl
// increments before rounds 2..10 (Random123 _philox4x32bumpkey; wraps mod 2^32).
// == tokensim.montecarlo._rng.round_keys.
__device__ __forceinline__ void philox_round_keys(uint2 key, unsigned int* round_keys) {
#pragma unroll
    for (int round_index = 0; round_index < TOKENSIM_PHILOX_ROUNDS; ++round_index) {
        round_keys[2 * round_index] = key.x + (unsigned int)round_index * TOKENSIM_PHILOX_W32_0;
        round_keys[2 * round_index + 1] = key.y + (unsigned int)round_index * TOKENSIM_PHILOX_W32_1;
    }
}

// Philox4x32-10 with its key schedule given (2 x 10 words, as philox_round_keys writes them). Kernels that draw
// many blocks under one seed read the schedule from constant memory, where each round key is an operand of the
// round's XOR rather than an addition per round.
__device__ __forceinline__ uint4 philox4x32_10_scheduled(uint4 ctr, const unsigned int* round_keys) {
#pragma unroll
    for (int round_index = 0; round_index < TOKENSIM_PHILOX_ROUNDS; ++round_index) {
        ctr = philox4x32_round(ctr, make_uint2(round_keys[2 * round_index], round_keys[2 * round_index + 1]));
    }
    return ctr;
}

// Philox4x32-10 block function: counter (x, y, z, w) and key (x, y) -> four 32-bit words.
__device__ __forceinline__ uint4 philox4x32_10(uint4 ctr, uint2 key) {
    unsigned int round_keys[2 * TOKENSIM_PHILOX_ROUNDS];
    philox_round_keys(key, round_keys);
    return philox4x32_10_scheduled(ctr, round_keys);
}

__device__ __forceinline__ uint2 philox_key_from_seed(unsigned long long seed) {
    return make_uint2((unsigned int)(seed & 0xFFFFFFFFull), (unsigned int)(seed >> 32));
}

__device__ __forceinline__ uint4 philox_counter(unsigned int month, unsigned int stream, unsigned long long path) {
    return make_uint4(month, stream, (unsigned int)(path & 0xFFFFFFFFull), (unsigned int)(path >> 32));
}

// The four words for (month, stream, path) under the key of seed.
__device__ __forceinline__ uint4 philox_draw_words(unsigned long long seed, unsigned int month, unsigned int stream,
                                                   unsigned long long path) {
    return philox4x32_10(philox_counter(month, stream, path), philox_key_from_seed(seed));
}

// ((hi >> 6) * 2^26 + (lo >> 6) + 0.5) * 2^-52: exact in double, so equal to NumPy bit for bit even if contracted.
__device__ __forceinline__ double philox_uniform_from_words(unsigned int hi, unsigned int lo) {
    const unsigned long long top52 = ((unsigned long long)(hi >> 6) << 26) | (unsigned long long)(lo >> 6);
    return ((double)top52 + 0.5) * 0x1p-52;
}

// The same uniform rounded to float, without the double: u = (2 n + 1) 2^-53 with 2 n + 1 < 2^53 a whole number, so
// converting 2 n + 1 to float (round to nearest even, as every conversion) and scaling by 2^-53 (exact: a power of
// two, far from float's underflow) rounds the one exact value once, as (float)philox_uniform_from_words does.
__device__ __forceinline__ float philox_uniform_float_from_words(unsigned int hi, unsigned int lo) {
    const unsigned long long top52 = ((unsigned long long)(hi >> 6) << 26) | (unsigned long long)(lo >> 6);
    return (float)(2ull * top52 + 1ull) * 0x1p-53f;
}

// u0 from words (x, y), u1 from words (z, w); both in (0, 1).
__device__ __forceinline__ double2 philox_uniforms_from_words(uint4 words) {
    return make_double2(philox_uniform_from_words(words.x, words.y), philox_uniform_from_words(words.z, words.w));
}

__device__ __forceinline__ double2 philox_uniforms(unsigned long long seed, unsigned int month, unsigned int stream,
                                                   unsigned long long path) {
    return philox_uniforms_from_words(philox_draw_words(seed, month, stream, path));
}

// Box-Muller in double: r = sqrt(-2 log u0), theta = 2 pi u1; (r cos theta, r sin theta).
__device__ __forceinline__ double2 philox_box_muller(double2 u) {
    // 2 pi rounded to double, the same constant as 2.0 * math.pi in tokensim/montecarlo/_rng.py.
    const double two_pi = 6.283185307179586;
    const double radius = sqrt(-2.0 * log(u.x));
    const double theta = two_pi * u.y;
    double sin_theta, cos_theta;
    sincos(theta, &sin_theta, &cos_theta);
    return make_double2(radius * cos_theta, radius * sin_theta);
}

__device__ __forceinline__ double2 philox_normals(unsigned long long seed, unsigned int month, unsigned int stream,
                                                  unsigned long long path) {
    return philox_box_muller(philox_uniforms(seed, month, stream, path));
}

#endif  // TOKENSIM_PHILOX_CUH
