// Decoding-size linear layers whose rows do not depend on how many rows run together.
//
// y[m, n] = round(sum_k x[m, k] * w[n, k] + bias[n]) for x [M, K] and w [N, K] (bf16 or float32).
//
// Invariant (the reason this file exists): the operations that produce y[m, n] are a fixed
// sequence that depends on K and on the chosen variant only; never on M, N, the row's place in
// the call, the other rows' values or the thread count. Each output element has its own
// accumulator vector, fed the same k-chunks in ascending order (the K tail by the same masked
// load), reduced across lanes by one fixed sequence, then biased and rounded as a scalar. Row and
// column tiling only decides how many such accumulators share a loaded weight chunk, and threads
// only split the columns. So a drafted tree's 17 rows get, bit for bit, what 17 single steps get.
//
// Variants (picked at run time; `supported()` says which this CPU runs, tests run each of them):
//   0 generic     scalar, 8 lanes of separate multiply and add (any CPU)
//   1 avx2        8 lanes, FMA
//   2 avx512      16 lanes, FMA
//   3 avx512bf16  bf16 weights through vdpbf16ps (32 products per instruction); fp32 as avx512
// Different variants round differently: results agree within a variant, not across variants.
// Built with -ffp-contract=off so that the generic variant's multiply and add stay two roundings.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <torch/library.h>
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace {

enum Variant : int64_t { GENERIC = 0, AVX2 = 1, AVX512 = 2, AVX512BF16 = 3 };

// Operands of one call, raw.
struct Problem {
  const void* x;  // [M, K], row stride K; bf16 only for the avx512bf16 variant, else float32
  const void* w;  // [N, K], row stride K; bf16 or float32
  bool w_bf16;
  int64_t M, N, K;
  float* y;  // [M, N] float32 sums, before bias and rounding
};

// While the first row block of a tile runs, the next tile's weight rows are fetched into the cache:
// from the second row block on, a tile's weights come from L1 and the memory stream would
// otherwise stall. Prefetches change no value.
template <int C>
inline void prefetch_next(const void* w, int64_t row_bytes, int64_t next_row, int64_t byte, int64_t rows_left) {
  const char* base = static_cast<const char*>(w) + next_row * row_bytes + byte;
  for (int j = 0; j < C && j < rows_left; ++j) __builtin_prefetch(base + j * row_bytes, 0, 3);
}

// Tiles: MB rows x NB columns of accumulators. The largest tile is chosen by register count;
// smaller tiles at the edges run the same per-element sequence.
constexpr int MB = 4;

// Every tile function below copies what it reads to locals and fully unrolls its R x C loops:
// that is what keeps the accumulators in registers (GCC otherwise keeps them in memory).
#define UNROLL _Pragma("GCC unroll 16")

// ---------------------------------------------------------------- generic (portable, slow)

constexpr int GL = 8;  // lanes

template <bool BF16W>
inline float weight_at(const void* w, int64_t i) {
  if constexpr (!BF16W) {
    return static_cast<const float*>(w)[i];
  } else {
    uint32_t bits = uint32_t(static_cast<const uint16_t*>(w)[i]) << 16;  // bf16 -> float32, exact
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
}

template <int R, int C, bool BF16W>
void tile_generic(const Problem& p, int64_t m0, int64_t n0) {
  const int64_t K = p.K;
  const float* x = static_cast<const float*>(p.x) + m0 * K;
  float acc[R][C][GL] = {};
  for (int64_t k = 0; k < K; k += GL) {
    const int lanes = int(K - k < GL ? K - k : GL);  // the tail: missing lanes add nothing, as masked loads
    for (int l = 0; l < lanes; ++l) {
      UNROLL for (int i = 0; i < R; ++i) {
        const float xv = x[i * K + k + l];
        UNROLL for (int j = 0; j < C; ++j) {
          const float prod = xv * weight_at<BF16W>(p.w, (n0 + j) * K + k + l);
          acc[i][j][l] = acc[i][j][l] + prod;
        }
      }
    }
  }
  UNROLL for (int i = 0; i < R; ++i) UNROLL for (int j = 0; j < C; ++j) {
    const float* a = acc[i][j];  // a fixed tree over the 8 lanes, the one sum8 below computes
    const float s = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
    p.y[(m0 + i) * p.N + n0 + j] = s;
  }
}

// ---------------------------------------------------------------- avx2 (8 lanes, FMA)

template <bool BF16W>
__attribute__((target("avx2,fma"))) inline __m256 load8(const void* base, int64_t at, int left) {
  using T = std::conditional_t<BF16W, uint16_t, float>;
  const T* src = static_cast<const T*>(base) + at;
  alignas(32) T buf[8] = {};
  if (left < 8) {  // the tail through a zeroed buffer: missing lanes add nothing
    std::memcpy(buf, src, left * sizeof(T));
    src = buf;
  }
  if constexpr (BF16W) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  } else {
    return _mm256_loadu_ps(src);
  }
}

__attribute__((target("avx2,fma"))) inline float sum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // lanes i + (i+4)
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));  // (0+2), (1+3)
  s = _mm_add_ss(s, _mm_movehdup_ps(s));  // 0 + 1
  return _mm_cvtss_f32(s);
}

template <int R, int C, bool BF16W>
__attribute__((target("avx2,fma"))) void tile_avx2(const Problem& p, int64_t m0, int64_t n0) {
  const int64_t K = p.K, esize = BF16W ? 2 : 4;
  const bool fetch = m0 == 0;
  const int64_t next = n0 + C, next_rows = p.N - next;
  const int64_t xrow = m0 * K, wrow = n0 * K;
  __m256 acc[R][C];
  UNROLL for (int i = 0; i < R; ++i) UNROLL for (int j = 0; j < C; ++j) acc[i][j] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; k += 8) {
    const int left = int(K - k < 8 ? K - k : 8);
    __m256 wv[C];
    UNROLL for (int j = 0; j < C; ++j) wv[j] = load8<BF16W>(p.w, wrow + j * K + k, left);
    if (fetch && (k * esize) % 64 == 0) prefetch_next<C>(p.w, K * esize, next, k * esize, next_rows);
    UNROLL for (int i = 0; i < R; ++i) {
      const __m256 xv = load8<false>(p.x, xrow + i * K + k, left);
      UNROLL for (int j = 0; j < C; ++j) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  UNROLL for (int i = 0; i < R; ++i) UNROLL for (int j = 0; j < C; ++j) p.y[(m0 + i) * p.N + n0 + j] = sum8(acc[i][j]);
}

// ---------------------------------------------------------------- avx512 (16 lanes, FMA)

#define AVX512_ISA "avx512f,avx512bw,avx512dq,avx512vl"

template <bool BF16W>
__attribute__((target(AVX512_ISA))) inline __m512 load16(const void* base, int64_t at, __mmask16 mask) {
  if constexpr (BF16W) {
    const __m256i h = _mm256_maskz_loadu_epi16(mask, static_cast<const uint16_t*>(base) + at);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  } else {
    return _mm512_maskz_loadu_ps(mask, static_cast<const float*>(base) + at);
  }
}

__attribute__((target(AVX512_ISA))) inline float sum16(__m512 v) {
  // Written out rather than _mm512_reduce_add_ps, so the order is this file's, not a header's.
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  return sum8(h);
}

template <int R, int C, bool BF16W>
__attribute__((target(AVX512_ISA))) void tile_avx512(const Problem& p, int64_t m0, int64_t n0) {
  const int64_t K = p.K, esize = BF16W ? 2 : 4;
  const bool fetch = m0 == 0;
  const int64_t next = n0 + C, next_rows = p.N - next;
  const int64_t xrow = m0 * K, wrow = n0 * K;
  __m512 acc[R][C];
  UNROLL for (int i = 0; i < R; ++i) UNROLL for (int j = 0; j < C; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 16) {
    const int64_t left = K - k;
    const __mmask16 mask = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
    __m512 wv[C];
    UNROLL for (int j = 0; j < C; ++j) wv[j] = load16<BF16W>(p.w, wrow + j * K + k, mask);
    if (fetch && (k * esize) % 64 == 0) prefetch_next<C>(p.w, K * esize, next, k * esize, next_rows);
    UNROLL for (int i = 0; i < R; ++i) {
      const __m512 xv = load16<false>(p.x, xrow + i * K + k, mask);
      UNROLL for (int j = 0; j < C; ++j) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  UNROLL for (int i = 0; i < R; ++i) UNROLL for (int j = 0; j < C; ++j) p.y[(m0 + i) * p.N + n0 + j] = sum16(acc[i][j]);
}

// ---------------------------------------------------------------- avx512bf16 (pairs of bf16)

// vdpbf16ps: acc[l] += x[2l] * w[2l] + x[2l+1] * w[2l+1] per lane, round-to-nearest-even, denormals
// flushed, whatever MXCSR says: the same on every CPU that has it.
template <int R, int C, bool BF16W>
__attribute__((target(AVX512_ISA ",avx512bf16"))) void tile_avx512bf16(const Problem& p, int64_t m0, int64_t n0) {
  const bool fetch = m0 == 0;
  const int64_t next = n0 + C, next_rows = p.N - next;
  static_assert(BF16W, "float32 weights take the avx512 tiles");
  const int64_t K = p.K;
  const uint16_t* x = static_cast<const uint16_t*>(p.x) + m0 * K;
  const uint16_t* w = static_cast<const uint16_t*>(p.w) + n0 * K;
  __m512 acc[R][C];
  UNROLL for (int i = 0; i < R; ++i) UNROLL for (int j = 0; j < C; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 32) {
    const int64_t left = K - k;
    const __mmask32 mask = left >= 32 ? __mmask32(0xFFFFFFFFu) : __mmask32((1u << left) - 1);  // zeros add nothing
    __m512bh wv[C];
    UNROLL for (int j = 0; j < C; ++j) wv[j] = (__m512bh)_mm512_maskz_loadu_epi16(mask, w + j * K + k);
    if (fetch) prefetch_next<C>(p.w, K * 2, next, k * 2, next_rows);
    UNROLL for (int i = 0; i < R; ++i) {
      const __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(mask, x + i * K + k);
      UNROLL for (int j = 0; j < C; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], xv, wv[j]);
    }
  }
  UNROLL for (int i = 0; i < R; ++i) UNROLL for (int j = 0; j < C; ++j) p.y[(m0 + i) * p.N + n0 + j] = sum16(acc[i][j]);
}

// ---------------------------------------------------------------- tiling and dispatch

using Tile = void (*)(const Problem&, int64_t, int64_t);

// Tile functions by shape: table[r - 1][c - 1] computes an r x c tile.
template <template <int, int, bool> class T, bool BF16W>
Tile pick(int r, int c) {
  static const Tile table[MB][4] = {
      {T<1, 1, BF16W>::run, T<1, 2, BF16W>::run, T<1, 3, BF16W>::run, T<1, 4, BF16W>::run},
      {T<2, 1, BF16W>::run, T<2, 2, BF16W>::run, T<2, 3, BF16W>::run, T<2, 4, BF16W>::run},
      {T<3, 1, BF16W>::run, T<3, 2, BF16W>::run, T<3, 3, BF16W>::run, T<3, 4, BF16W>::run},
      {T<4, 1, BF16W>::run, T<4, 2, BF16W>::run, T<4, 3, BF16W>::run, T<4, 4, BF16W>::run},
  };
  return table[r - 1][c - 1];
}

#define GUIDECODE_TILES(name)                                                                  \
  template <int R, int C, bool BF16W>                                                          \
  struct name##_fn {                                                                           \
    static void run(const Problem& p, int64_t m0, int64_t n0) { name<R, C, BF16W>(p, m0, n0); } \
  };

GUIDECODE_TILES(tile_generic)
GUIDECODE_TILES(tile_avx2)
GUIDECODE_TILES(tile_avx512)

template <int R, int C, bool BF16W>
struct tile_avx512bf16_fn {  // bf16 weights only
  static void run(const Problem& p, int64_t m0, int64_t n0) { tile_avx512bf16<R, C, true>(p, m0, n0); }
};

template <template <int, int, bool> class T>
Tile pick_for(bool w_bf16, int r, int c) {
  return w_bf16 ? pick<T, true>(r, c) : pick<T, false>(r, c);
}

Tile tile_for(Variant v, bool w_bf16, int r, int c) {
  switch (v) {
    case AVX512BF16:
      return w_bf16 ? pick<tile_avx512bf16_fn, true>(r, c) : pick<tile_avx512_fn, false>(r, c);
    case AVX512:
      return pick_for<tile_avx512_fn>(w_bf16, r, c);
    case AVX2:
      return pick_for<tile_avx2_fn>(w_bf16, r, c);
    default:
      return pick_for<tile_generic_fn>(w_bf16, r, c);
  }
}

// Columns per tile: AVX2 has 16 registers (4 x 2 accumulators plus operands), AVX-512 32 (4 x 4).
int columns_per_tile(Variant v) { return v == AVX2 || v == GENERIC ? 2 : 4; }

void run(const Problem& p, Variant v) {
  const int NB = columns_per_tile(v);
  const int64_t tiles = (p.N + NB - 1) / NB;
  // Threads split the columns only; each column's value is computed by one thread either way.
  at::parallel_for(0, tiles, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t n0 = t * NB;
      const int c = int(p.N - n0 < NB ? p.N - n0 : NB);
      for (int64_t m0 = 0; m0 < p.M; m0 += MB) {
        const int r = int(p.M - m0 < MB ? p.M - m0 : MB);
        tile_for(v, p.w_bf16, r, c)(p, m0, n0);
      }
    }
  });
}

bool cpu_runs(Variant v) {
  __builtin_cpu_init();
  switch (v) {
    case AVX512BF16:
      return cpu_runs(AVX512) && __builtin_cpu_supports("avx512bf16");
    case AVX512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    case AVX2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
      return true;
  }
}

// ---------------------------------------------------------------- the operator

at::Tensor linear_rows(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& bias, int64_t variant) {
  const Variant v = Variant(variant);
  TORCH_CHECK(variant >= GENERIC && variant <= AVX512BF16 && cpu_runs(v), "linear_rows: variant ", variant, " does not run on this CPU");
  TORCH_CHECK(x.device().is_cpu() && w.device().is_cpu(), "linear_rows: CPU tensors only");
  TORCH_CHECK(w.dim() == 2 && w.is_contiguous(), "linear_rows: the weight must be a contiguous [out, in] matrix");
  TORCH_CHECK(w.scalar_type() == at::kBFloat16 || w.scalar_type() == at::kFloat, "linear_rows: bf16 or float32 weights");
  TORCH_CHECK(x.scalar_type() == w.scalar_type(), "linear_rows: input and weight dtypes differ");
  const int64_t K = w.size(1), N = w.size(0);
  TORCH_CHECK(x.size(-1) == K, "linear_rows: input has ", x.size(-1), " features, the weight ", K);
  const bool bf16 = w.scalar_type() == at::kBFloat16;
  const bool pairs = bf16 && v == AVX512BF16;
  // Conversion of bf16 to float32 is exact, element by element.
  at::Tensor x2 = x.reshape({-1, K});
  x2 = (pairs ? x2 : x2.to(at::kFloat)).contiguous();  // [M, K]
  const int64_t M = x2.size(0);
  at::Tensor sums = at::empty({M, N}, x.options().dtype(at::kFloat));  // [M, N]
  run(Problem{x2.data_ptr(), w.data_ptr(), bf16, M, N, K, sums.data_ptr<float>()}, v);

  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = N;
  at::Tensor out = at::empty(shape, x.options());  // [..., N], the input's dtype
  at::Tensor b = bias.has_value() && bias->defined() ? bias->to(at::kFloat).contiguous() : at::Tensor();
  const float* bp = b.defined() ? b.data_ptr<float>() : nullptr;
  const float* s = sums.data_ptr<float>();
  // Bias and rounding as scalars, one element at a time: no vector/tail split to differ by position.
  if (bf16) {
    c10::BFloat16* o = out.data_ptr<c10::BFloat16>();
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) o[m * N + n] = c10::BFloat16(bp ? s[m * N + n] + bp[n] : s[m * N + n]);
  } else {
    float* o = out.data_ptr<float>();
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) o[m * N + n] = bp ? s[m * N + n] + bp[n] : s[m * N + n];
  }
  return out;
}

std::vector<int64_t> supported_variants() {
  std::vector<int64_t> out;
  for (int64_t v = GENERIC; v <= AVX512BF16; ++v)
    if (cpu_runs(Variant(v))) out.push_back(v);
  return out;
}

}  // namespace

TORCH_LIBRARY(guidecode, m) {
  m.def("linear_rows(Tensor x, Tensor w, Tensor? bias, int variant) -> Tensor");
  m.impl("linear_rows", c10::DispatchKey::CPU, TORCH_FN(linear_rows));
  m.def("linear_rows_variants() -> int[]", &supported_variants);
}
