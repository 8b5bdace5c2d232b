// Known-answer and parity kernels for kernels/philox.cuh: the device writes what tokensim/montecarlo/_rng.py computes.
//
// Launched by tests/test_rng.py::test_device_matches_numpy (through tokensim._kernels.get_function) and by the
// device check. One thread per counter; no shared state, so any grid shape gives the same output.
//   philox_kat_words  must equal tokensim.montecarlo._rng.philox4x32_10 (Random123 known-answer vectors and
//                     arbitrary input)
//   philox_kat_draws  must equal tokensim.montecarlo._rng.draw_words, .uniforms (bit for bit) and .normals (to a few
//                     ulp)
#include "philox.cuh"

// counters: n x 4 words, keys: n x 2 words, words_out: n x 4 words (row-major, one row per counter).
extern "C" __global__ void philox_kat_words(const unsigned int* __restrict__ counters,
                                            const unsigned int* __restrict__ keys,
                                            unsigned int* __restrict__ words_out, unsigned long long n) {
    const unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) {
        return;
    }
    const uint4 ctr = make_uint4(counters[4 * i], counters[4 * i + 1], counters[4 * i + 2], counters[4 * i + 3]);
    const uint2 key = make_uint2(keys[2 * i], keys[2 * i + 1]);
    const uint4 words = philox4x32_10(ctr, key);
    words_out[4 * i] = words.x;
    words_out[4 * i + 1] = words.y;
    words_out[4 * i + 2] = words.z;
    words_out[4 * i + 3] = words.w;
}

// For each path index paths[i] (any order, any subset): the words (n x 4), uniforms (n x 2) and normals (n x 2)
// of counter (month, stream, path) under the key of seed.
extern "C" __global__ void philox_kat_draws(unsigned long long seed, unsigned int month, unsigned int stream,
                                            const unsigned long long* __restrict__ paths,
                                            unsigned int* __restrict__ words_out,
                                            double* __restrict__ uniforms_out, double* __restrict__ normals_out,
                                            unsigned long long n) {
    const unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) {
        return;
    }
    const unsigned long long path = paths[i];
    const uint4 words = philox_draw_words(seed, month, stream, path);
    words_out[4 * i] = words.x;
    words_out[4 * i + 1] = words.y;
    words_out[4 * i + 2] = words.z;
    words_out[4 * i + 3] = words.w;
    const double2 u = philox_uniforms(seed, month, stream, path);
    uniforms_out[2 * i] = u.x;
    uniforms_out[2 * i + 1] = u.y;
    const double2 z = philox_box_muller(u);
    normals_out[2 * i] = z.x;
    normals_out[2 * i + 1] = z.y;
}
