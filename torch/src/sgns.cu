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
