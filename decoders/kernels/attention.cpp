// Attention for decoding-size query blocks, each query computed alone, in float64.
//
//   out[b, i, h] = sum_j p[j] v[b, h / group, j] / sum_j p[j],
//   p[j] = exp(s[j] - max s),  s[j] = (q[b, h, i] . k[b, h / group, j]) * scale,
// over the keys j that query i sees (a bool mask, or plain causal where there is none), in slot order.
//
// Invariant: a query's output is this sequence of float64 operations whatever the other queries of
// the call, their number, the thread count or the variant: a drafted tree's nodes get what single
// steps get. Each score's products are exact in float64 (bf16 and float32 inputs); its 8 lanes
// (dimension d into lane d % 8) are added in a fixed tree. Masked keys are skipped, so a key's place
// among other queries' keys does not matter, only the order of the keys a query sees.
//
// The keys and values may be views of a longer preallocated cache (strided on the slot axis).
// Variants: 0 generic (the compiler's baseline), 1 the same code for AVX2 and FMA, 2 for AVX-512.
// Built with -ffp-contract=off: every rounding is the one written. The sums use fma, which rounds
// once on every CPU (in software where it has none), so all variants give the same bits.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <torch/library.h>
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <limits>
#include <vector>

namespace {

constexpr int LANES = 8;
constexpr int64_t CHUNK = 32;  // keys widened at a time: 32 rows of 128 float64 fill 32 KB

template <typename T>
inline double widen(T x) {
  return static_cast<double>(static_cast<float>(x));
}

struct AttnProblem {
  int64_t batch, heads, kv_heads, queries, keys, dim;
  double scale;
  at::Tensor q, k, v, out;  // q [B, H, Q, D], k/v [B, KVH, KV, D] (any strides), out [B, Q, H, D]
  const bool* visible;      // [B or 1, Q, KV] with the strides below, or null: causal
  int64_t vis_b, vis_q, vis_k;
};

// One fixed summation tree for the lanes: ((0+4)+(2+6))+((1+5)+(3+7)).
inline double lane_sum(const double* acc) {
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

// Eight float64 lanes, three ways: one AVX-512 register, two AVX2 registers, or scalars. Each lane
// computes the same correctly rounded fma steps in each, so every variant gives the same bits.
struct Scalar8 {
  double x[8];
  static Scalar8 zero() { return Scalar8{{0, 0, 0, 0, 0, 0, 0, 0}}; }
  static Scalar8 load(const double* p) { Scalar8 r; for (int l = 0; l < 8; ++l) r.x[l] = p[l]; return r; }
  static Scalar8 broadcast(double v) { Scalar8 r; for (int l = 0; l < 8; ++l) r.x[l] = v; return r; }
  static Scalar8 fma(Scalar8 a, Scalar8 b, Scalar8 c) { for (int l = 0; l < 8; ++l) c.x[l] = __builtin_fma(a.x[l], b.x[l], c.x[l]); return c; }
  void store(double* p) const { for (int l = 0; l < 8; ++l) p[l] = x[l]; }
};

struct Avx2x2 {
  __m256d lo, hi;
  __attribute__((target("avx2,fma"))) static Avx2x2 zero() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }
  __attribute__((target("avx2,fma"))) static Avx2x2 load(const double* p) { return {_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)}; }
  __attribute__((target("avx2,fma"))) static Avx2x2 broadcast(double v) { return {_mm256_set1_pd(v), _mm256_set1_pd(v)}; }
  __attribute__((target("avx2,fma"))) static Avx2x2 fma(Avx2x2 a, Avx2x2 b, Avx2x2 c) {
    return {_mm256_fmadd_pd(a.lo, b.lo, c.lo), _mm256_fmadd_pd(a.hi, b.hi, c.hi)};
  }
  __attribute__((target("avx2,fma"))) void store(double* p) const { _mm256_storeu_pd(p, lo); _mm256_storeu_pd(p + 4, hi); }
};

struct Avx512 {
  __m512d v;
  __attribute__((target("avx512f"))) static Avx512 zero() { return {_mm512_setzero_pd()}; }
  __attribute__((target("avx512f"))) static Avx512 load(const double* p) { return {_mm512_loadu_pd(p)}; }
  __attribute__((target("avx512f"))) static Avx512 broadcast(double x) { return {_mm512_set1_pd(x)}; }
  __attribute__((target("avx512f"))) static Avx512 fma(Avx512 a, Avx512 b, Avx512 c) { return {_mm512_fmadd_pd(a.v, b.v, c.v)}; }
  __attribute__((target("avx512f"))) void store(double* p) const { _mm512_storeu_pd(p, v); }
};

// s[t] = q . k[t] for `count` keys (rows of `keys`, Dp apart; Dp a multiple of 8): dimension d
// into lane d % 8, lanes added in a fixed tree. The products of bf16 or float32 values are exact in
// float64, so each step rounds only the sum. Four keys at a time only to overlap their chains.
template <typename V>
__attribute__((always_inline)) inline void dots(const double* qd, const double* keys, int64_t count, int64_t dim, double* s) {
  double lanes[4][LANES];
  int64_t t = 0;
  for (; t + 4 <= count; t += 4) {
    V a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
    const double* k = keys + t * dim;
    for (int64_t d = 0; d < dim; d += LANES) {
      V q = V::load(qd + d);
      a0 = V::fma(q, V::load(k + d), a0);
      a1 = V::fma(q, V::load(k + dim + d), a1);
      a2 = V::fma(q, V::load(k + 2 * dim + d), a2);
      a3 = V::fma(q, V::load(k + 3 * dim + d), a3);
    }
    a0.store(lanes[0]); a1.store(lanes[1]); a2.store(lanes[2]); a3.store(lanes[3]);
    for (int r = 0; r < 4; ++r) s[t + r] = lane_sum(lanes[r]);
  }
  for (; t < count; ++t) {
    V a0 = V::zero();
    for (int64_t d = 0; d < dim; d += LANES) a0 = V::fma(V::load(qd + d), V::load(keys + t * dim + d), a0);
    a0.store(lanes[0]);
    s[t] = lane_sum(lanes[0]);
  }
}

// a[d] += w[t] * values[t, d] for t in order, d < Dp (a multiple of 8); four 8-wide column blocks
// at a time only to overlap their chains.
template <typename V>
__attribute__((always_inline)) inline void weighted_sum(const double* w, const double* values, int64_t n, int64_t dim, double* a) {
  int64_t d = 0;
  for (; d + 4 * LANES <= dim; d += 4 * LANES) {
    V a0 = V::load(a + d), a1 = V::load(a + d + LANES), a2 = V::load(a + d + 2 * LANES), a3 = V::load(a + d + 3 * LANES);
    for (int64_t t = 0; t < n; ++t) {
      V x = V::broadcast(w[t]);
      const double* v = values + t * dim + d;
      a0 = V::fma(x, V::load(v), a0);
      a1 = V::fma(x, V::load(v + LANES), a1);
      a2 = V::fma(x, V::load(v + 2 * LANES), a2);
      a3 = V::fma(x, V::load(v + 3 * LANES), a3);
    }
    a0.store(a + d); a1.store(a + d + LANES); a2.store(a + d + 2 * LANES); a3.store(a + d + 3 * LANES);
  }
  for (; d < dim; d += LANES) {
    V acc = V::load(a + d);
    for (int64_t t = 0; t < n; ++t) acc = V::fma(V::broadcast(w[t]), V::load(values + t * dim + d), acc);
    acc.store(a + d);
  }
}

// exp(x) for x <= 0 by range reduction and a degree-13 Taylor polynomial (truncation below 1e-17
// relative); plain multiplies and adds without branches, so the compiler vectorizes it and every
// variant computes the same bits (libm's exp may take other code paths on other CPUs). Inputs
// below -708 are taken as -708 (exp ~ 3e-308: no weight beside the largest one, which is 1).
__attribute__((always_inline)) inline double exp_nonpositive(double x) {
  x = x < -708.0 ? -708.0 : x;
  const double shifter = 6755399441055744.0;  // 1.5 * 2^52: adding it rounds to an integer
  const double n = (x * 1.4426950408889634 + shifter) - shifter;  // x / ln 2, to the nearest integer
  const double r = (x - n * 0.6931471803691238) - n * 1.9082149292705877e-10;  // ln 2 in two parts
  double poly = 1.0 / 6227020800.0;  // 1 / 13!
  const double inv[13] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0,
                          1.0 / 5040.0,      1.0 / 720.0,      1.0 / 120.0,      1.0 / 24.0,     1.0 / 6.0,
                          1.0 / 2.0,         1.0,              1.0};
  for (int t = 0; t < 13; ++t) poly = poly * r + inv[t];
  // 2^n for n in [-1022, 0]: n + 1023 in the exponent field, read off the integer that
  // n + 1023 + shifter holds in its low bits.
  const double biased = n + 1023.0 + shifter;
  uint64_t bits;
  std::memcpy(&bits, &biased, sizeof bits);
  bits = (bits & 0x7FF) << 52;
  double scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return poly * scale;
}

template <typename T>
__attribute__((always_inline)) inline void widen_row(const T* src, double* dst, int64_t dim) {
  for (int64_t d = 0; d < dim; ++d) dst[d] = widen(src[d]);
}

// bf16 is the top half of a float32: written as bit moves, so that the compiler vectorizes it.
template <>
__attribute__((always_inline)) inline void widen_row(const c10::BFloat16* src, double* dst, int64_t dim) {
  const uint16_t* bits = reinterpret_cast<const uint16_t*>(src);
  for (int64_t d = 0; d < dim; ++d) {
    uint32_t word = static_cast<uint32_t>(bits[d]) << 16;
    float value;
    std::memcpy(&value, &word, sizeof value);
    dst[d] = value;
  }
}

// Scratch per thread, reused across calls.
struct AttnScratch {
  std::vector<double> qd, rows, scores, acc, total;
  std::vector<int64_t> seen;
};

template <typename T, typename V>
__attribute__((always_inline)) inline void attend_one(const AttnProblem& p, int64_t b, int64_t kvh, int64_t i, AttnScratch& w) {
  const int64_t group = p.heads / p.kv_heads, D = p.dim, Dp = (D + LANES - 1) / LANES * LANES;
  const T* q = p.q.data_ptr<T>();
  const T* k = p.k.data_ptr<T>();
  const T* v = p.v.data_ptr<T>();
  T* out = p.out.data_ptr<T>();
  auto qs = p.q.strides(), ks = p.k.strides(), vs = p.v.strides();
  w.qd.assign(group * Dp, 0.0);
  for (int64_t g = 0; g < group; ++g)
    widen_row(q + b * qs[0] + (kvh * group + g) * qs[1] + i * qs[2], &w.qd[g * Dp], D);
  // The keys this query sees, in slot order.
  w.seen.clear();
  const int64_t last_causal = p.keys - p.queries + i;
  for (int64_t j = 0; j < p.keys; ++j)
    if (p.visible ? p.visible[b * p.vis_b + i * p.vis_q + j * p.vis_k] : j <= last_causal) w.seen.push_back(j);
  const int64_t n = static_cast<int64_t>(w.seen.size());
  // Keys, then values, widened a chunk at a time into a buffer that stays in the L1 cache while
  // every head of the group reads it. Chunks run in slot order, so each sum keeps its order.
  w.rows.resize(CHUNK * Dp);
  for (int64_t d = D; d < Dp; ++d)
    for (int64_t r = 0; r < CHUNK; ++r) w.rows[r * Dp + d] = 0.0;
  w.scores.resize(group * n);
  for (int64_t c = 0; c < n; c += CHUNK) {
    const int64_t m = std::min<int64_t>(CHUNK, n - c);
    for (int64_t r = 0; r < m; ++r) widen_row(k + b * ks[0] + kvh * ks[1] + w.seen[c + r] * ks[2], &w.rows[r * Dp], D);
    for (int64_t g = 0; g < group; ++g) dots<V>(&w.qd[g * Dp], w.rows.data(), m, Dp, &w.scores[g * n + c]);
  }
  w.total.assign(group, 0.0);
  for (int64_t g = 0; g < group; ++g) {
    double* s = &w.scores[g * n];
    double top = -std::numeric_limits<double>::infinity();
    for (int64_t t = 0; t < n; ++t) {
      s[t] *= p.scale;
      top = s[t] > top ? s[t] : top;
    }
    for (int64_t t = 0; t < n; ++t) s[t] = exp_nonpositive(s[t] - top);
    for (int64_t t = 0; t < n; ++t) w.total[g] += s[t];
  }
  w.acc.assign(group * Dp, 0.0);
  for (int64_t c = 0; c < n; c += CHUNK) {
    const int64_t m = std::min<int64_t>(CHUNK, n - c);
    for (int64_t r = 0; r < m; ++r) widen_row(v + b * vs[0] + kvh * vs[1] + w.seen[c + r] * vs[2], &w.rows[r * Dp], D);
    for (int64_t g = 0; g < group; ++g) weighted_sum<V>(&w.scores[g * n + c], w.rows.data(), m, Dp, &w.acc[g * Dp]);
  }
  for (int64_t g = 0; g < group; ++g) {
    T* o = out + ((b * p.queries + i) * p.heads + kvh * group + g) * D;
    for (int64_t d = 0; d < D; ++d) o[d] = static_cast<T>(static_cast<float>(w.acc[g * Dp + d] / w.total[g]));
  }
}

template <typename T, typename V>
__attribute__((always_inline)) inline void attend_range(const AttnProblem& p, int64_t begin, int64_t end) {
  thread_local AttnScratch scratch;
  for (int64_t item = begin; item < end; ++item) {
    int64_t i = item % p.queries, rest = item / p.queries;
    attend_one<T, V>(p, rest / p.kv_heads, rest % p.kv_heads, i, scratch);
  }
}

template <typename T>
__attribute__((flatten)) void attend_generic(const AttnProblem& p, int64_t begin, int64_t end) { attend_range<T, Scalar8>(p, begin, end); }

template <typename T>
__attribute__((target("avx2,fma"), flatten)) void attend_avx2(const AttnProblem& p, int64_t begin, int64_t end) {
  attend_range<T, Avx2x2>(p, begin, end);
}

template <typename T>
__attribute__((target("avx512f,avx512dq,fma"), flatten)) void attend_avx512(const AttnProblem& p, int64_t begin, int64_t end) {
  attend_range<T, Avx512>(p, begin, end);
}

bool avx512_runs() { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"); }

bool avx2_runs() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

std::vector<int64_t> attention_variants() {
  std::vector<int64_t> runs = {0};
  if (avx2_runs()) runs.push_back(1);
  if (avx512_runs()) runs.push_back(2);
  return runs;
}

template <typename T>
void run(const AttnProblem& p, int64_t variant) {
  int64_t items = p.batch * p.kv_heads * p.queries;
  // Grain 1: each item is a whole query over all keys; items never share an accumulator.
  at::parallel_for(0, items, 1, [&](int64_t begin, int64_t end) {
    if (variant == 2) attend_avx512<T>(p, begin, end);
    else if (variant == 1) attend_avx2<T>(p, begin, end);
    else attend_generic<T>(p, begin, end);
  });
}

at::Tensor exact_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const c10::optional<at::Tensor>& visible, double scale, int64_t variant) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "exact_attention: q, k, v must be [B, heads, len, dim]");
  TORCH_CHECK(q.device().is_cpu() && k.device().is_cpu() && v.device().is_cpu(), "exact_attention: CPU tensors only");
  TORCH_CHECK(q.scalar_type() == k.scalar_type() && q.scalar_type() == v.scalar_type(), "exact_attention: one dtype for q, k, v");
  TORCH_CHECK(q.size(1) % k.size(1) == 0 && k.sizes() == v.sizes() && q.size(3) == k.size(3) && q.size(0) == k.size(0),
              "exact_attention: shapes do not match");
  TORCH_CHECK(q.stride(3) == 1 && k.stride(3) == 1 && v.stride(3) == 1, "exact_attention: the head dimension must be contiguous");
  TORCH_CHECK(variant == 0 || (variant == 1 && avx2_runs()) || (variant == 2 && avx512_runs()), "exact_attention: variant ", variant, " does not run here");
  AttnProblem p{q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3), scale, q, k, v,
                at::empty({q.size(0), q.size(2), q.size(1), q.size(3)}, q.options()), nullptr, 0, 0, 0};
  TORCH_CHECK(p.keys >= p.queries, "exact_attention: fewer keys than queries");
  at::Tensor mask;
  if (visible.has_value()) {
    mask = *visible;  // [B or 1, 1, Q, KV] bool, possibly broadcast
    TORCH_CHECK(mask.scalar_type() == at::kBool && mask.dim() == 4 && mask.size(2) == p.queries && mask.size(3) == p.keys,
                "exact_attention: the mask must be bool [B or 1, 1, queries, keys]");
    p.visible = mask.data_ptr<bool>();
    p.vis_b = mask.size(0) == 1 ? 0 : mask.stride(0);
    p.vis_q = mask.stride(2);
    p.vis_k = mask.stride(3);
  }
  switch (q.scalar_type()) {
    case at::kFloat: run<float>(p, variant); break;
    case at::kBFloat16: run<c10::BFloat16>(p, variant); break;
    case at::kHalf: run<c10::Half>(p, variant); break;
    default: TORCH_CHECK(false, "exact_attention: float32, bf16 or float16 only");
  }
  return p.out;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(guidecode, m) {
  m.def("exact_attention(Tensor q, Tensor k, Tensor v, Tensor? visible, float scale, int variant) -> Tensor");
  m.impl("exact_attention", c10::DispatchKey::CPU, TORCH_FN(exact_attention));
  m.def("exact_attention_variants() -> int[]", &attention_variants);
}
