// Decoding-size linear layers from quantized weights, whose rows do not depend on how many rows
// run together and whose bits do not depend on the CPU.
//
// Weights (decoders/quantized.py packs them from a GGUF file's blocks or from dense weights):
//   value(n, k) = scale[n, b] * (code[n, k] - offset) - minv[n, b],   b = k / BS
// with 8-bit unsigned codes, one float32 scale (and, for k-quants, one float32 minimum) per block of
// BS (16 or 32) inputs. Stored by groups of 16 output columns so that one 64-byte load holds four
// consecutive inputs of 16 columns:
//   codes [G, K/4, 16, 4] uint8, scale and minv [G, K/BS, 16] float32, G = ceil(N / 16).
// Inputs are quantized per row like llama.cpp's Q8_0: per block of 32, dx = max|x| / 127 and
// xq = round(x / dx) in [-127, 127] (the row's own values only).
//
// Invariant: y[m, n] is this sequence, for every variant, row count and thread count:
//   acc = 0
//   for each weight block b, in order:
//     isum = sum_k code[n, k] * xq[m, k] - offset * sum_k xq[m, k]    (int32: exact, any order)
//     acc  = fma(float(isum) * scale[n, b], dx[m, b'], acc)             (b' = the input block of b)
//     acc  = fma(-minv[n, b], float(sum_k xq[m, k]) * dx[m, b'], acc)  (only with minima)
//   y = round(acc + bias)
// The integer sums are exact whatever instructions add them, and the float steps are the same
// correctly rounded operations in each variant, so a drafted tree's rows get what single steps get
// on this machine, and every machine computes the same bits.
//
// Variants (picked at run time; tests run each this CPU has):
//   0 generic     scalar
//   1 avx2        vpmaddwd on 16-bit widened codes
//   2 avx512vnni  vpdpbusd: 64 byte products per instruction
// Built with -ffp-contract=off: the float steps must stay as written (fma only where written).

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <torch/library.h>
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <vector>

namespace {

enum QVariant : int64_t { Q_GENERIC = 0, Q_AVX2 = 1, Q_AVX512VNNI = 2 };

constexpr int COLS = 16;  // output columns per group
constexpr int XB = 32;    // inputs per quantized input block
constexpr int QMB = 4;    // rows per tile

// Rows of x, quantized. Per row m: xq [K] int8; dx, xsum, xsumf [K / BS] (one per weight block).
struct QRows {
  std::vector<int8_t> xq;
  std::vector<float> dx;      // the input block's scale, repeated per weight block
  std::vector<int32_t> xsum;  // sum of the weight block's xq
  std::vector<float> xsumf;   // float(xsum) * dx, for minima
};


// SSE2 (every x86-64 CPU), 4 lanes: one code for every variant, so the codes never depend on the ISA.
void quantize_row(const float* __restrict row, int64_t K, int BS, int8_t* __restrict xq, float* __restrict dx, int32_t* __restrict xsum,
                  float* __restrict xsumf) {
  const __m128 sign = _mm_set1_ps(-0.0f), hi = _mm_set1_ps(127.0f), lo = _mm_set1_ps(-127.0f), big = _mm_set1_ps(12582912.0f);
  for (int64_t k0 = 0; k0 < K; k0 += XB) {
    __m128 vmax = _mm_setzero_ps();  // max is exact in any order
    for (int i = 0; i < XB; i += 4) vmax = _mm_max_ps(vmax, _mm_andnot_ps(sign, _mm_loadu_ps(row + k0 + i)));
    float lanes[4];
    _mm_storeu_ps(lanes, vmax);
    const float amax = std::max(std::max(lanes[0], lanes[1]), std::max(lanes[2], lanes[3]));
    const float d = amax / 127.0f;
    const __m128 id = _mm_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    for (int i = 0; i < XB; i += 16) {
      __m128i q[4];
      for (int j = 0; j < 4; ++j) {
        const __m128 v = _mm_min_ps(hi, _mm_max_ps(lo, _mm_mul_ps(_mm_loadu_ps(row + k0 + i + 4 * j), id)));
        // Adding and removing 1.5 * 2^23 rounds to nearest, ties to even; the result is integral.
        q[j] = _mm_cvttps_epi32(_mm_sub_ps(_mm_add_ps(v, big), big));
      }
      const __m128i packed = _mm_packs_epi16(_mm_packs_epi32(q[0], q[1]), _mm_packs_epi32(q[2], q[3]));
      _mm_storeu_si128((__m128i*)(xq + k0 + i), packed);
    }
    for (int64_t b = k0 / BS; b < (k0 + XB) / BS; ++b) dx[b] = d;
  }
  for (int64_t b = 0; b < K / BS; ++b) {
    int32_t s = 0;
    for (int i = 0; i < BS; ++i) s += xq[b * BS + i];
    xsum[b] = s;
    xsumf[b] = float(s) * dx[b];
  }
}

// Scalar and shared by every variant: the per-row quantization is part of the result's definition.
QRows quantize_rows(const float* x, int64_t M, int64_t K, int BS) {
  const int64_t nb = K / BS;
  QRows q{std::vector<int8_t>(M * K), std::vector<float>(M * nb), std::vector<int32_t>(M * nb), std::vector<float>(M * nb)};
  // Raw pointers: int8 stores may alias anything, so through the vectors every store would reload them.
  int8_t* __restrict xq = q.xq.data();
  float* __restrict dx = q.dx.data();
  int32_t* __restrict xsum = q.xsum.data();
  float* __restrict xsumf = q.xsumf.data();
  // Rows are independent: threads split them, and each row's codes are the same either way.
  at::parallel_for(0, M, 16, [&](int64_t begin, int64_t end) {
    for (int64_t m = begin; m < end; ++m) quantize_row(x + m * K, K, BS, xq + m * K, dx + m * nb, xsum + m * nb, xsumf + m * nb);
  });
  return q;
}

struct QProblem {
  const uint8_t* codes;  // [G, K/4, 16, 4]
  const float* scale;    // [G, nb, 16]
  const float* minv;     // [G, nb, 16] or nullptr
  int32_t offset;
  int BS;
  int64_t M, N, K;
  const QRows* rows;
  float* y;  // [M, G * 16] float32 sums
};

// One group's weights: codes [K/4, 16, 4], scale and minima [nb, 16].
struct GroupView {
  const uint8_t* w;
  const float* sc;
  const float* mn;  // nullptr without minima
};

inline GroupView group_view(const QProblem& p, int64_t g) {
  const int64_t nb = p.K / p.BS;
  return {p.codes + g * (p.K / 4) * 64, p.scale + g * nb * COLS, p.minv ? p.minv + g * nb * COLS : nullptr};
}

// ---------------------------------------------------------------- generic

template <int R>
void qtile_generic(const QProblem& p, int64_t m0, int64_t g) {
  const int64_t nb = p.K / p.BS;
  const GroupView gv = group_view(p, g);
  const uint8_t* w = gv.w;
  const float *sc = gv.sc, *mn = gv.mn;
  float acc[R][COLS] = {};
  for (int64_t b = 0; b < nb; ++b) {
    for (int r = 0; r < R; ++r) {
      const int64_t m = m0 + r;
      const int8_t* xq = p.rows->xq.data() + m * p.K;
      for (int j = 0; j < COLS; ++j) {
        int32_t isum = -p.offset * p.rows->xsum[m * nb + b];
        for (int64_t k = b * p.BS; k < (b + 1) * p.BS; ++k) isum += int32_t(w[(k / 4) * 64 + j * 4 + k % 4]) * xq[k];
        const float t = float(isum) * sc[b * COLS + j];
        acc[r][j] = std::fma(t, p.rows->dx[m * nb + b], acc[r][j]);
        if (mn) acc[r][j] = std::fma(-mn[b * COLS + j], p.rows->xsumf[m * nb + b], acc[r][j]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < COLS; ++j) p.y[(m0 + r) * (p.N) + g * COLS + j] = acc[r][j];
}

#define QUNROLL _Pragma("GCC unroll 16")

// ---------------------------------------------------------------- avx2

// Float steps of one block for 8 columns, as in the header.
__attribute__((target("avx2,fma"))) inline __m256 qfloat8(__m256 acc, __m256i isum, const float* sc, const float* mn, float dx, float xsumf) {
  const __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(isum), _mm256_loadu_ps(sc));
  acc = _mm256_fmadd_ps(t, _mm256_set1_ps(dx), acc);
  if (mn) acc = _mm256_fmadd_ps(_mm256_xor_ps(_mm256_loadu_ps(mn), _mm256_set1_ps(-0.0f)), _mm256_set1_ps(xsumf), acc);
  return acc;
}

template <int R>
__attribute__((target("avx2,fma"))) void qtile_avx2(const QProblem& p, int64_t m0, int64_t g) {
  const int64_t nb = p.K / p.BS;
  const GroupView gv = group_view(p, g);
  const uint8_t* w = gv.w;
  const float *sc = gv.sc, *mn = gv.mn;
  __m256 acc[R][2];
  QUNROLL for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const int steps = p.BS / 4;
  for (int64_t b = 0; b < nb; ++b) {
    // Pair sums per (row, quarter of 4 columns): lane 2c + h holds column c's inputs 2h, 2h+1.
    __m256i pair[R][4];
    QUNROLL for (int r = 0; r < R; ++r) QUNROLL for (int q = 0; q < 4; ++q) pair[r][q] = _mm256_setzero_si256();
    for (int s = 0; s < steps; ++s) {
      const int64_t k4 = b * steps + s;
      const uint8_t* wp = w + k4 * 64;
      __m256i w16[4];  // 4 columns x 4 inputs each, widened to 16 bits
      QUNROLL for (int q = 0; q < 4; ++q) w16[q] = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i*)(wp + 16 * q)));
      QUNROLL for (int r = 0; r < R; ++r) {
        const int8_t* xp = p.rows->xq.data() + (m0 + r) * p.K + k4 * 4;
        const __m256i x16 = _mm256_broadcastq_epi64(_mm_cvtepi8_epi16(_mm_cvtsi32_si128(*(const int32_t*)xp)));
        QUNROLL for (int q = 0; q < 4; ++q) pair[r][q] = _mm256_add_epi32(pair[r][q], _mm256_madd_epi16(w16[q], x16));
      }
    }
    QUNROLL for (int r = 0; r < R; ++r) {
      const int64_t m = m0 + r;
      const __m256i corr = _mm256_set1_epi32(-p.offset * p.rows->xsum[m * nb + b]);
      const float dx = p.rows->dx[m * nb + b], xs = p.rows->xsumf[m * nb + b];
      QUNROLL for (int h = 0; h < 2; ++h) {
        // hadd gives columns [0 1 4 5 | 2 3 6 7] of this half; the permute puts them in order.
        __m256i sums = _mm256_hadd_epi32(pair[r][2 * h], pair[r][2 * h + 1]);
        sums = _mm256_add_epi32(_mm256_permute4x64_epi64(sums, 0xD8), corr);
        acc[r][h] = qfloat8(acc[r][h], sums, sc + b * COLS + 8 * h, mn ? mn + b * COLS + 8 * h : nullptr, dx, xs);
      }
    }
  }
  QUNROLL for (int r = 0; r < R; ++r) QUNROLL for (int h = 0; h < 2; ++h) _mm256_storeu_ps(p.y + (m0 + r) * p.N + g * COLS + 8 * h, acc[r][h]);
}

// ---------------------------------------------------------------- avx512 vnni

template <int R>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void qtile_avx512vnni(const QProblem& p, int64_t m0, int64_t g) {
  const int64_t nb = p.K / p.BS;
  const GroupView gv = group_view(p, g);
  const uint8_t* w = gv.w;
  const float *sc = gv.sc, *mn = gv.mn;
  __m512 acc[R];
  QUNROLL for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  const int steps = p.BS / 4;
  const int32_t* xrow[R];
  QUNROLL for (int r = 0; r < R; ++r) xrow[r] = (const int32_t*)(p.rows->xq.data() + (m0 + r) * p.K);
  for (int64_t b = 0; b < nb; ++b) {
    __m512i isum[R];
    QUNROLL for (int r = 0; r < R; ++r) isum[r] = _mm512_set1_epi32(-p.offset * p.rows->xsum[(m0 + r) * nb + b]);
    for (int s = 0; s < steps; ++s) {
      const int64_t k4 = b * steps + s;
      const __m512i wv = _mm512_loadu_si512(w + k4 * 64);
      QUNROLL for (int r = 0; r < R; ++r) isum[r] = _mm512_dpbusd_epi32(isum[r], wv, _mm512_set1_epi32(xrow[r][k4]));
    }
    const __m512 scv = _mm512_loadu_ps(sc + b * COLS);
    const __m512 mnv = mn ? _mm512_castsi512_ps(_mm512_xor_si512(_mm512_loadu_si512(mn + b * COLS), _mm512_set1_epi32(int32_t(0x80000000u)))) : _mm512_setzero_ps();
    QUNROLL for (int r = 0; r < R; ++r) {
      const int64_t m = m0 + r;
      const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(isum[r]), scv);
      acc[r] = _mm512_fmadd_ps(t, _mm512_set1_ps(p.rows->dx[m * nb + b]), acc[r]);
      if (mn) acc[r] = _mm512_fmadd_ps(mnv, _mm512_set1_ps(p.rows->xsumf[m * nb + b]), acc[r]);
    }
  }
  QUNROLL for (int r = 0; r < R; ++r) _mm512_storeu_ps(p.y + (m0 + r) * p.N + g * COLS, acc[r]);
}

// ---------------------------------------------------------------- dispatch

using QTile = void (*)(const QProblem&, int64_t, int64_t);

template <template <int> class T>
QTile qpick(int r) {
  static const QTile table[QMB] = {T<1>::run, T<2>::run, T<3>::run, T<4>::run};
  return table[r - 1];
}

#define GUIDECODE_QTILES(name) \
  template <int R>             \
  struct name##_fn {           \
    static void run(const QProblem& p, int64_t m0, int64_t g) { name<R>(p, m0, g); } \
  };

GUIDECODE_QTILES(qtile_generic)
GUIDECODE_QTILES(qtile_avx2)
GUIDECODE_QTILES(qtile_avx512vnni)

QTile qtile_for(QVariant v, int r) {
  switch (v) {
    case Q_AVX512VNNI:
      return qpick<qtile_avx512vnni_fn>(r);
    case Q_AVX2:
      return qpick<qtile_avx2_fn>(r);
    default:
      return qpick<qtile_generic_fn>(r);
  }
}

bool qcpu_runs(QVariant v) {
  __builtin_cpu_init();
  switch (v) {
    case Q_AVX512VNNI:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
    case Q_AVX2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
      return true;
  }
}

void qrun(const QProblem& p, QVariant v) {
  const int64_t groups = p.N / COLS;
  // Threads split the column groups only; each column is computed by one thread either way.
  at::parallel_for(0, groups, 4, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g)
      for (int64_t m0 = 0; m0 < p.M; m0 += QMB) qtile_for(v, int(p.M - m0 < QMB ? p.M - m0 : QMB))(p, m0, g);
  });
}

void check_packed(const at::Tensor& codes, const at::Tensor& scale, const c10::optional<at::Tensor>& minv, int64_t block, int64_t K) {
  TORCH_CHECK(codes.device().is_cpu() && codes.scalar_type() == at::kByte && codes.is_contiguous() && codes.dim() == 4 &&
                  codes.size(2) == COLS && codes.size(3) == 4,
              "quant_rows: codes must be a contiguous uint8 [groups, in/4, 16, 4] tensor");
  TORCH_CHECK(block == 16 || block == 32, "quant_rows: block size must be 16 or 32, not ", block);
  TORCH_CHECK(K % XB == 0 && codes.size(1) * 4 == K, "quant_rows: input size ", K, " must be a multiple of 32 and match the codes");
  const auto want = std::vector<int64_t>{codes.size(0), K / block, COLS};
  TORCH_CHECK(scale.scalar_type() == at::kFloat && scale.is_contiguous() && scale.sizes() == want, "quant_rows: scale must be float32 [groups, in/block, 16]");
  if (minv.has_value() && minv->defined())
    TORCH_CHECK(minv->scalar_type() == at::kFloat && minv->is_contiguous() && minv->sizes() == want, "quant_rows: minv must be float32 [groups, in/block, 16]");
}

// ---------------------------------------------------------------- operators

at::Tensor quant_rows(const at::Tensor& x, const at::Tensor& codes, const at::Tensor& scale, const c10::optional<at::Tensor>& minv,
                      const c10::optional<at::Tensor>& bias, int64_t offset, int64_t block, int64_t out_features, int64_t variant) {
  const QVariant v = QVariant(variant);
  TORCH_CHECK(variant >= Q_GENERIC && variant <= Q_AVX512VNNI && qcpu_runs(v), "quant_rows: variant ", variant, " does not run on this CPU");
  TORCH_CHECK(x.device().is_cpu(), "quant_rows: CPU tensors only");
  TORCH_CHECK(x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kFloat, "quant_rows: bf16 or float32 input");
  const int64_t K = x.size(-1);
  check_packed(codes, scale, minv, block, K);
  TORCH_CHECK(out_features > 0 && out_features <= codes.size(0) * COLS, "quant_rows: ", out_features, " outputs do not fit the codes");
  TORCH_CHECK(offset >= 0 && offset <= 255, "quant_rows: offset must be in [0, 255]");
  const at::Tensor x2 = x.reshape({-1, K}).to(at::kFloat).contiguous();  // [M, K], exact for bf16
  const int64_t M = x2.size(0), NP = codes.size(0) * COLS;
  const QRows rows = quantize_rows(x2.data_ptr<float>(), M, K, int(block));
  at::Tensor sums = at::empty({M, NP}, x.options().dtype(at::kFloat));  // [M, NP]
  const at::Tensor mv = minv.has_value() && minv->defined() ? *minv : at::Tensor();
  qrun(QProblem{codes.data_ptr<uint8_t>(), scale.data_ptr<float>(), mv.defined() ? mv.data_ptr<float>() : nullptr, int32_t(offset), int(block), M, NP,
                K, &rows, sums.data_ptr<float>()},
       v);
  at::Tensor out = sums.narrow(1, 0, out_features);  // [M, N]
  if (bias.has_value() && bias->defined()) out = out + bias->to(at::kFloat);  // one rounding per element
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = out_features;
  return out.to(x.scalar_type()).reshape(shape);
}

template <typename T>
void dequantize_into(const uint8_t* c, const float* s, const float* mn, int32_t offset, int64_t block, int64_t G, int64_t K, T* out) {
  const int64_t nb = K / block;
  // Per group and block, the codes sit in block/4 cache lines that all 16 columns share; each
  // column's values of the block are written as one contiguous run.
  at::parallel_for(0, G, 1, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g)
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* cb = c + (g * (K / 4) + b * (block / 4)) * 64;
        for (int j = 0; j < COLS; ++j) {
          const int64_t i = (g * nb + b) * COLS + j;
          const float sc = s[i], m = mn ? mn[i] : 0.0f;
          T* row = out + (g * COLS + j) * K + b * block;
          for (int64_t k4 = 0; k4 < block / 4; ++k4)
            for (int t = 0; t < 4; ++t) {
              const float v = float(int32_t(cb[k4 * 64 + j * 4 + t]) - offset) * sc;
              row[k4 * 4 + t] = T(v - m);  // without minima m = 0, and v - 0 is v bit for bit (-0 too)
            }
        }
      }
  });
}

// The weights as a dense [N, K] matrix of `dtype` (prompt chunks multiply it with a GEMM).
at::Tensor quant_dequantize(const at::Tensor& codes, const at::Tensor& scale, const c10::optional<at::Tensor>& minv, int64_t offset, int64_t block,
                            int64_t out_features, at::ScalarType dtype) {
  const int64_t K = codes.size(1) * 4;
  check_packed(codes, scale, minv, block, K);
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kBFloat16, "quant_dequantize: float32 or bfloat16 only");
  const int64_t G = codes.size(0);
  at::Tensor dense = at::empty({G * COLS, K}, codes.options().dtype(dtype));  // [NP, K]
  const float* mn = minv.has_value() && minv->defined() ? minv->data_ptr<float>() : nullptr;
  if (dtype == at::kFloat)
    dequantize_into(codes.data_ptr<uint8_t>(), scale.data_ptr<float>(), mn, int32_t(offset), block, G, K, dense.data_ptr<float>());
  else
    dequantize_into(codes.data_ptr<uint8_t>(), scale.data_ptr<float>(), mn, int32_t(offset), block, G, K, dense.data_ptr<c10::BFloat16>());
  return dense.narrow(0, 0, out_features);
}

// x [..., K] replaced by the values of its input codes (the kernel's quantization), in x's dtype:
// wide passes multiply these, so a prompt computes what its tokens' steps compute, up to rounding.
at::Tensor quant_inputs(const at::Tensor& x) {
  TORCH_CHECK(x.device().is_cpu() && x.size(-1) % XB == 0, "quant_inputs: CPU input whose size is a multiple of 32");
  const int64_t K = x.size(-1);
  const at::Tensor x2 = x.reshape({-1, K}).to(at::kFloat).contiguous();  // [M, K]
  const int64_t M = x2.size(0);
  const QRows rows = quantize_rows(x2.data_ptr<float>(), M, K, XB);
  at::Tensor out = at::empty({M, K}, x2.options());  // [M, K]
  float* o = out.data_ptr<float>();
  at::parallel_for(0, M, 16, [&](int64_t begin, int64_t end) {
    for (int64_t m = begin; m < end; ++m)
      for (int64_t k = 0; k < K; ++k) o[m * K + k] = float(rows.xq[m * K + k]) * rows.dx[m * (K / XB) + k / XB];
  });
  return out.to(x.scalar_type()).reshape(x.sizes());
}

std::vector<int64_t> quant_variants() {
  std::vector<int64_t> out;
  for (int64_t v = Q_GENERIC; v <= Q_AVX512VNNI; ++v)
    if (qcpu_runs(QVariant(v))) out.push_back(v);
  return out;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(guidecode, m) {
  m.def("quant_rows(Tensor x, Tensor codes, Tensor scale, Tensor? minv, Tensor? bias, int offset, int block, int out_features, int variant) -> Tensor");
  m.impl("quant_rows", c10::DispatchKey::CPU, TORCH_FN(quant_rows));
  m.def("quant_dequantize(Tensor codes, Tensor scale, Tensor? minv, int offset, int block, int out_features, ScalarType dtype) -> Tensor");
  m.impl("quant_dequantize", c10::DispatchKey::CPU, TORCH_FN(quant_dequantize));
  m.def("quant_inputs(Tensor x) -> Tensor");
  m.impl("quant_inputs", c10::DispatchKey::CPU, TORCH_FN(quant_inputs));
  m.def("quant_rows_variants() -> int[]", &quant_variants);
}
