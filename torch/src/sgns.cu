// w2v: the fused skip-gram negative-sampling step, one warp per pair.
//
// Compiled at run time by NVRTC (src/cuda_fused.rs) with
//   -DDIM=<vector size> -DNEG=<negatives per pair> -DVEC=<1|4> -DATOMIC=<0|1>
// VEC=4 (16-byte loads) needs DIM % 128 == 0.
//
// Per pair (t, c), exactly word2vec.c's update (native.rs does the same on
// the CPU): K negatives are drawn from the alias table with a counter-based
// hash of (seed, pair), a negative equal to c is skipped, and for the context
// (label 1) and each negative (label 0)
//     g = (label - sigmoid(v.u)) * lr;  e += g u;  u += g v
// then v += e. All K+1 output rows are loaded before any is updated, so a
// warp has K+2 row loads in flight. Updates go to memory with atomicAdd
// (ATOMIC=1: none is lost when two warps touch the same row) or plain stores
// (ATOMIC=0: Hogwild as word2vec.c's threads do it).
//
// The loss (-log sigmoid(v.u) - sum log sigmoid(-v.u_n)) of every pair is
// summed per block and added once per block to *loss_out.

#ifndef DIM
#error "DIM must be defined"
#endif
#ifndef NEG
#error "NEG must be defined"
#endif
#ifndef VEC
#define VEC 1
#endif
#ifndef ATOMIC
#define ATOMIC 1
#endif
// Profiling only (benches/kernel_gpu.py): skip every write to the tables.
#ifndef NO_UPDATE
#define NO_UPDATE 0
#endif

#define WARP 32
#define BLOCK_THREADS 256

__device__ __forceinline__ unsigned long long mix64(unsigned long long z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#if VEC == 4
#if DIM % 128 != 0
#error "VEC=4 needs DIM % 128 == 0"
#endif
#define R (DIM / 128)
typedef float4 V;
__device__ __forceinline__ V vzero() { return make_float4(0.f, 0.f, 0.f, 0.f); }
__device__ __forceinline__ V vload(const float* row, int i, int lane) {
    return reinterpret_cast<const float4*>(row)[lane + WARP * i];
}
__device__ __forceinline__ void vstore(float* row, int i, int lane, V x) {
    reinterpret_cast<float4*>(row)[lane + WARP * i] = x;
}
__device__ __forceinline__ float vdot(V a, V b) {
    return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
}
__device__ __forceinline__ V vaxpy(V y, float g, V x) {
    return make_float4(y.x + g * x.x, y.y + g * x.y, y.z + g * x.z, y.w + g * x.w);
}
__device__ __forceinline__ void vatomic(float* row, int i, int lane, V d) {
    float4* p = reinterpret_cast<float4*>(row) + lane + WARP * i;
#if __CUDA_ARCH__ >= 900
    atomicAdd(p, d);
#else
    float* q = reinterpret_cast<float*>(p);
    atomicAdd(q, d.x);
    atomicAdd(q + 1, d.y);
    atomicAdd(q + 2, d.z);
    atomicAdd(q + 3, d.w);
#endif
}
#else
#define R ((DIM + WARP - 1) / WARP)
typedef float V;
__device__ __forceinline__ V vzero() { return 0.f; }
__device__ __forceinline__ V vload(const float* row, int i, int lane) {
    int j = lane + WARP * i;
    return j < DIM ? row[j] : 0.f;
}
__device__ __forceinline__ void vstore(float* row, int i, int lane, V x) {
    int j = lane + WARP * i;
    if (j < DIM) row[j] = x;
}
__device__ __forceinline__ float vdot(V a, V b) { return a * b; }
__device__ __forceinline__ V vaxpy(V y, float g, V x) { return y + g * x; }
__device__ __forceinline__ void vatomic(float* row, int i, int lane, V d) {
    int j = lane + WARP * i;
    if (j < DIM) atomicAdd(row + j, d);
}
#endif

extern "C" __global__ void __launch_bounds__(BLOCK_THREADS)
sgns_step(float* __restrict__ win, float* __restrict__ wout,
          const int* __restrict__ in_ids, const int* __restrict__ out_ids, long long n,
          const unsigned int* __restrict__ thr, const int* __restrict__ alias,
          unsigned int vocab, float lr, unsigned long long seed,
          double* __restrict__ loss_out)
{
    __shared__ float block_loss[BLOCK_THREADS / WARP];
    const int lane = threadIdx.x & (WARP - 1);
    const long long nwarps = ((long long)gridDim.x * blockDim.x) / WARP;
    float loss = 0.f;
    for (long long p = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / WARP; p < n;
         p += nwarps) {
        // w2v's roles (src/train/engine.rs): the context's input row against
        // the centre's output row; a negative equal to the centre is skipped.
        // The host passes contexts as in_ids and centres as out_ids.
        const int t = in_ids[p];
        const int c = out_ids[p];
        int rows[NEG + 1];
        rows[0] = c;
        const unsigned long long base = mix64(seed ^ ((unsigned long long)p * 0x9e3779b97f4a7c15ULL));
#pragma unroll
        for (int k = 1; k <= NEG; k++) {
            const unsigned long long r = mix64(base + (unsigned long long)k);
            const unsigned int i = (unsigned int)(((r >> 32) * (unsigned long long)vocab) >> 32);
            const unsigned int th = __ldg(thr + i);
            const int w = ((unsigned int)r < th || th == 0xffffffffu) ? (int)i : __ldg(alias + i);
            rows[k] = (w == c) ? -1 : w;
        }
        float* vrow = win + (long long)t * DIM;
        V v[R], e[R];
        V u[NEG + 1][R];
#pragma unroll
        for (int i = 0; i < R; i++) {
            v[i] = vload(vrow, i, lane);
            e[i] = vzero();
        }
#pragma unroll
        for (int k = 0; k <= NEG; k++) {
            const float* urow = wout + (long long)(rows[k] < 0 ? c : rows[k]) * DIM;
#pragma unroll
            for (int i = 0; i < R; i++) u[k][i] = vload(urow, i, lane);
        }
        float d[NEG + 1];
#pragma unroll
        for (int k = 0; k <= NEG; k++) {
            d[k] = 0.f;
#pragma unroll
            for (int i = 0; i < R; i++) d[k] += vdot(v[i], u[k][i]);
        }
#pragma unroll
        for (int o = WARP / 2; o > 0; o >>= 1) {
#pragma unroll
            for (int k = 0; k <= NEG; k++) d[k] += __shfl_xor_sync(0xffffffffu, d[k], o);
        }
#pragma unroll
        for (int k = 0; k <= NEG; k++) {
            if (rows[k] < 0) continue;
            const float sg = 1.f / (1.f + __expf(-d[k]));
            const float label = k == 0 ? 1.f : 0.f;
            const float g = (label - sg) * lr;
            loss -= __logf(fmaxf(k == 0 ? sg : 1.f - sg, 1e-7f));
            float* urow = wout + (long long)rows[k] * DIM;
#pragma unroll
            for (int i = 0; i < R; i++) {
                e[i] = vaxpy(e[i], g, u[k][i]);
#if NO_UPDATE
                (void)urow;
#elif ATOMIC
                V delta = vaxpy(vzero(), g, v[i]);
                vatomic(urow, i, lane, delta);
#else
                vstore(urow, i, lane, vaxpy(u[k][i], g, v[i]));
#endif
            }
        }
#pragma unroll
        for (int i = 0; i < R; i++) {
#if NO_UPDATE
            (void)vrow;
#elif ATOMIC
            vatomic(vrow, i, lane, e[i]);
#else
            vstore(vrow, i, lane, vaxpy(v[i], 1.f, e[i]));
#endif
        }
    }
    if (lane == 0) block_loss[threadIdx.x / WARP] = loss;
    __syncthreads();
    if (threadIdx.x == 0) {
        float s = 0.f;
        for (int w = 0; w < (int)(blockDim.x / WARP); w++) s += block_loss[w];
        atomicAdd(loss_out, (double)s);
    }
}

// ---------------------------------------------------------------------------
// The stream kernel: pairs drawn on the device from the token ids, trained
// as window updates (pWord2Vec's scheme, the native `window` update).
//
// One warp per centre position i of the chunk `ids` (int32 vocabulary ids,
// -1 at each line end; the chunk ends at a line end). With the same rules
// as `w2v pairs` (src/pairs.rs, Sampler::line):
//  - subsampling: token j is kept when u(seed, KEEP, j) < keep[id_j]. The
//    draw depends only on the position, so every warp agrees on which
//    neighbours survive, and no compaction pass is needed;
//  - the window: b = 1 + (hash(seed, WIN, i) mod window) (dynamic) or
//    window; the contexts are the nearest b kept tokens on each side, not
//    crossing a line end;
//  - the update: the centre's output row and K negatives, drawn once per
//    window from the alias table (one equal to the centre is skipped), are
//    loaded once and held in registers; each context's input row h is
//    loaded as it is met (left side nearest first, then right side nearest
//    first), trained against all of them with the window's output rows
//    fixed, and written back (atomicAdd, or a plain store for ATOMIC=0);
//    the output rows' summed updates are added once, with atomicAdd, at
//    the end of the window.
// Rows are read through L2 only (ld.cg): a context met twice in one
// window must see its first update.
// Every id is checked below `vocab` before it indexes anything; one that is
// not sets *bad and is skipped. The learning rate falls linearly from lr0
// at position 0 to lr1 at position n. Loss and pair counts are summed per
// block and added once per block to *loss_out and *pairs_out.
// Only centres in [lo, hi) are trained (the tests launch one at a time).

#define SALT_KEEP 0x243f6a8885a308d3ULL
#define SALT_WIN 0x13198a2e03707344ULL
#define SALT_NEG 0xa4093822299f31d0ULL
#define GOLD 0x9e3779b97f4a7c15ULL

__device__ __forceinline__ float u01(unsigned long long h) {
    return (float)(h >> 40) * (1.0f / 16777216.0f);
}

#if VEC == 4
__device__ __forceinline__ V vload_cg(const float* row, int i, int lane) {
    return __ldcg(reinterpret_cast<const float4*>(row) + lane + WARP * i);
}
#else
__device__ __forceinline__ V vload_cg(const float* row, int i, int lane) {
    int j = lane + WARP * i;
    return j < DIM ? __ldcg(row + j) : 0.f;
}
#endif

extern "C" __global__ void __launch_bounds__(BLOCK_THREADS)
sgns_stream(float* __restrict__ win, float* __restrict__ wout,
            const int* __restrict__ ids, long long n, long long lo, long long hi,
            const float* __restrict__ keep, int window, int dynamic,
            const unsigned int* __restrict__ thr, const int* __restrict__ alias,
            unsigned int vocab, float lr0, float lr1, unsigned long long seed,
            double* __restrict__ loss_out, unsigned long long* __restrict__ pairs_out,
            int* __restrict__ bad)
{
    __shared__ float block_loss[BLOCK_THREADS / WARP];
    __shared__ unsigned long long block_pairs[BLOCK_THREADS / WARP];
    const int lane = threadIdx.x & (WARP - 1);
    const long long nwarps = ((long long)gridDim.x * blockDim.x) / WARP;
    const unsigned long long skeep = seed ^ SALT_KEEP, swin = seed ^ SALT_WIN,
                             sneg = seed ^ SALT_NEG;
    float loss = 0.f;
    unsigned long long pairs = 0;
    for (long long i = lo + ((long long)blockIdx.x * blockDim.x + threadIdx.x) / WARP; i < hi;
         i += nwarps) {
        const int w = ids[i];
        if (w < 0) continue;
        if ((unsigned int)w >= vocab) {
            if (lane == 0) atomicExch(bad, 1);
            continue;
        }
        const float kw = __ldg(keep + w);
        if (kw < 1.f && u01(mix64(skeep ^ ((unsigned long long)i * GOLD))) >= kw) continue;
        const int b = dynamic ? 1 + (int)(mix64(swin ^ ((unsigned long long)i * GOLD)) % (unsigned long long)window)
                              : window;
        const float lr = lr0 + (lr1 - lr0) * (float)((double)i / (double)n);
        // The window's output rows: the centre and K negatives.
        int rows[NEG + 1];
        rows[0] = w;
        const unsigned long long nbase = mix64(sneg ^ ((unsigned long long)i * GOLD));
#pragma unroll
        for (int k = 1; k <= NEG; k++) {
            const unsigned long long r = mix64(nbase + (unsigned long long)k);
            const unsigned int j = (unsigned int)(((r >> 32) * (unsigned long long)vocab) >> 32);
            const unsigned int th = __ldg(thr + j);
            const int x = ((unsigned int)r < th || th == 0xffffffffu) ? (int)j : __ldg(alias + j);
            rows[k] = (x == w) ? -1 : x;
        }
        V o[NEG + 1][R], dout[NEG + 1][R];
#pragma unroll
        for (int k = 0; k <= NEG; k++) {
            const float* urow = wout + (long long)(rows[k] < 0 ? w : rows[k]) * DIM;
#pragma unroll
            for (int r = 0; r < R; r++) {
                o[k][r] = vload_cg(urow, r, lane);
                dout[k][r] = vzero();
            }
        }
        int trained = 0;
#pragma unroll 1
        for (int side = 0; side < 2; side++) {
            const long long dir = side == 0 ? -1 : 1;
            int found = 0;
            long long p0 = i;
            bool stop = false;
            while (found < b && !stop) {
                const long long pos = p0 + dir * (long long)(1 + lane);
                const bool inb = pos >= 0 && pos < n;
                const int id = inb ? ids[pos] : -1;
                bool boundary = !inb || id < 0;
                bool ok = false;
                if (!boundary) {
                    if ((unsigned int)id >= vocab) {
                        atomicExch(bad, 1);
                        boundary = true;
                    } else {
                        const float kp = __ldg(keep + id);
                        ok = kp >= 1.f || u01(mix64(skeep ^ ((unsigned long long)pos * GOLD))) < kp;
                    }
                }
                const unsigned int bmask = __ballot_sync(0xffffffffu, boundary);
                unsigned int kmask = __ballot_sync(0xffffffffu, ok);
                if (bmask) {
                    kmask &= (1u << (__ffs(bmask) - 1)) - 1u;
                    stop = true;
                }
                while (kmask && found < b) {
                    const int l = __ffs(kmask) - 1;
                    kmask &= kmask - 1u;
                    const int c = __shfl_sync(0xffffffffu, id, l);
                    found++;
                    trained++;
                    // One pair (centre w, context c): c's input row against
                    // the window's output rows.
                    float* hrow = win + (long long)c * DIM;
                    V h[R], dh[R];
#pragma unroll
                    for (int r = 0; r < R; r++) {
                        h[r] = vload_cg(hrow, r, lane);
                        dh[r] = vzero();
                    }
                    float d[NEG + 1];
#pragma unroll
                    for (int k = 0; k <= NEG; k++) {
                        d[k] = 0.f;
#pragma unroll
                        for (int r = 0; r < R; r++) d[k] += vdot(h[r], o[k][r]);
                    }
#pragma unroll
                    for (int s = WARP / 2; s > 0; s >>= 1) {
#pragma unroll
                        for (int k = 0; k <= NEG; k++) d[k] += __shfl_xor_sync(0xffffffffu, d[k], s);
                    }
#pragma unroll
                    for (int k = 0; k <= NEG; k++) {
                        if (rows[k] < 0) continue;
                        const float sg = 1.f / (1.f + __expf(-d[k]));
                        const float g = ((k == 0 ? 1.f : 0.f) - sg) * lr;
                        loss -= __logf(fmaxf(k == 0 ? sg : 1.f - sg, 1e-7f));
#pragma unroll
                        for (int r = 0; r < R; r++) {
                            dh[r] = vaxpy(dh[r], g, o[k][r]);
                            dout[k][r] = vaxpy(dout[k][r], g, h[r]);
                        }
                    }
#pragma unroll
                    for (int r = 0; r < R; r++) {
#if NO_UPDATE
                        (void)hrow;
#elif ATOMIC
                        vatomic(hrow, r, lane, dh[r]);
#else
                        vstore(hrow, r, lane, vaxpy(h[r], 1.f, dh[r]));
#endif
                    }
                }
                p0 += dir * WARP;
            }
        }
        pairs += (unsigned long long)trained;
        if (trained == 0) continue;
#pragma unroll
        for (int k = 0; k <= NEG; k++) {
            if (rows[k] < 0) continue;
            float* urow = wout + (long long)rows[k] * DIM;
#pragma unroll
            for (int r = 0; r < R; r++) {
#if NO_UPDATE
                (void)urow;
#else
                vatomic(urow, r, lane, dout[k][r]);
#endif
            }
        }
    }
    if (lane == 0) {
        block_loss[threadIdx.x / WARP] = loss;
        block_pairs[threadIdx.x / WARP] = pairs;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        float s = 0.f;
        unsigned long long c = 0;
        for (int k = 0; k < (int)(blockDim.x / WARP); k++) {
            s += block_loss[k];
            c += block_pairs[k];
        }
        atomicAdd(loss_out, (double)s);
        atomicAdd(pairs_out, c);
    }
}
