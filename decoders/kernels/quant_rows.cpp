// Decoding-size linear layers from quantized weights, whose rows do not depend on how many rows
// run together and whose bits do not depend on the CPU.
//
// Weights (decoders/quant/linear.py packs them from a GGUF file's blocks or from dense weights):
//   value(n, k) = scale[n, b] * (code[n, k] - offset) - minv[n, b],   b = k / BS (BS = 16 or 32)
//   scale[n, b] = float(d[n, b / S]) * float(sub[n, b]),  minv[n, b] = float(dmin[n, b / S]) * float(mins[n, b])
// with unsigned codes of 4, 5, 6 or 8 bits, float16 d and dmin per super-block of S blocks and int8
// sub-scales per block (k-quants; sub = 1 and S = 1 for the plain formats; no minima for most). The
// products are exact in float32 (an 11-bit by an 8-bit significand), so a block's scale is one
// number however it is stored. The file's own bytes stay about the file's size:
//   bits 8:  codes   [G, K/4, 64]  uint8, byte j*4+t of row (g, k4) = code of column 16g+j, input 4k4+t
//   bits <8: nibbles [G, K/8, 64]  the low 4 bits of two such rows (k4 even: low nibble, odd: high)
//            planes  [G, K/4, bits-4, 8]  bit 4+q of the 64 codes of row (g, k4), little-endian bits
//   d, dmin  [G, K/BS/S, 16] float16;  sub, mins [G, K/BS, 16] int8;  G = ceil(N / 16)
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
#include <c10/util/Half.h>
#include <torch/library.h>
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <type_traits>
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
// x: a contiguous [M, K] bf16 or float32 tensor (bf16 widens to float32 exactly).
QRows quantize_rows(const at::Tensor& x, int BS) {
  const int64_t M = x.size(0), K = x.size(1), nb = K / BS;
  QRows q{std::vector<int8_t>(M * K), std::vector<float>(M * nb), std::vector<int32_t>(M * nb), std::vector<float>(M * nb)};
  // Raw pointers: int8 stores may alias anything, so through the vectors every store would reload them.
  int8_t* __restrict xq = q.xq.data();
  float* __restrict dx = q.dx.data();
  int32_t* __restrict xsum = q.xsum.data();
  float* __restrict xsumf = q.xsumf.data();
  const bool bf16 = x.scalar_type() == at::kBFloat16;
  const void* data = x.data_ptr();
  // Rows are independent: threads split them, and each row's codes are the same either way.
  at::parallel_for(0, M, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> widened(bf16 ? K : 0);
    for (int64_t m = begin; m < end; ++m) {
      const float* row = static_cast<const float*>(data) + m * K;
      if (bf16) {
        const c10::BFloat16* src = static_cast<const c10::BFloat16*>(data) + m * K;
        for (int64_t k = 0; k < K; ++k) widened[k] = float(src[k]);
        row = widened.data();
      }
      quantize_row(row, K, BS, xq + m * K, dx + m * nb, xsum + m * nb, xsumf + m * nb);
    }
  });
  return q;
}

// The packed weights of one layer (see the header); absent parts are nullptr.
struct QWeights {
  int bits, block, per_super;
  int32_t offset;
  const uint8_t* codes;    // bits 8
  const uint8_t* nibbles;  // bits < 8
  const uint8_t* planes;   // bits 5, 6
  const c10::Half* d;
  const int8_t* sub;
  const c10::Half* dmin;
  const int8_t* mins;
  int64_t G, K;

  int64_t blocks() const { return K / block; }
  int64_t supers() const { return blocks() / per_super; }
  int plane_count() const { return bits == 8 ? 0 : bits - 4; }
};

struct QProblem {
  QWeights w;
  int64_t M, N;  // N: padded to whole groups
  const QRows* rows;
  float* y;  // [M, N] float32 sums
};

// ---------------------------------------------------------------- scalar pieces (generic, avx2)

// The 64 codes of row (g, k4).
inline void unpack_step(const QWeights& w, int64_t g, int64_t k4, uint8_t* out) {
  if (w.bits == 8) {
    std::memcpy(out, w.codes + (g * (w.K / 4) + k4) * 64, 64);
    return;
  }
  const uint8_t* nib = w.nibbles + (g * (w.K / 8) + k4 / 2) * 64;
  const int shift = (k4 & 1) * 4;
  for (int i = 0; i < 64; ++i) out[i] = (nib[i] >> shift) & 0x0F;
  const int P = w.plane_count();
  for (int q = 0; q < P; ++q) {
    const uint8_t* plane = w.planes + ((g * (w.K / 4) + k4) * P + q) * 8;
    for (int i = 0; i < 64; ++i) out[i] |= ((plane[i / 8] >> (i % 8)) & 1) << (4 + q);
  }
}

inline float scale_at(const QWeights& w, int64_t g, int64_t b, int j) {
  const float d = float(w.d[(g * w.supers() + b / w.per_super) * COLS + j]);
  return w.sub ? d * float(w.sub[(g * w.blocks() + b) * COLS + j]) : d;
}

inline float min_at(const QWeights& w, int64_t g, int64_t b, int j) {
  return float(w.dmin[(g * w.supers() + b / w.per_super) * COLS + j]) * float(w.mins[(g * w.blocks() + b) * COLS + j]);
}

// ---------------------------------------------------------------- generic

template <int R>
void qtile_generic(const QProblem& p, int64_t m0, int64_t g) {
  const QWeights& w = p.w;
  const int64_t nb = w.blocks(), K = w.K;
  float acc[R][COLS] = {};
  uint8_t codes[64];
  for (int64_t b = 0; b < nb; ++b) {
    int32_t isum[R][COLS];
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < COLS; ++j) isum[r][j] = -w.offset * p.rows->xsum[(m0 + r) * nb + b];
    for (int64_t k4 = b * w.block / 4; k4 < (b + 1) * w.block / 4; ++k4) {
      unpack_step(w, g, k4, codes);
      for (int r = 0; r < R; ++r) {
        const int8_t* xq = p.rows->xq.data() + (m0 + r) * K + k4 * 4;
        for (int j = 0; j < COLS; ++j)
          for (int t = 0; t < 4; ++t) isum[r][j] += int32_t(codes[j * 4 + t]) * xq[t];
      }
    }
    for (int j = 0; j < COLS; ++j) {
      const float sc = scale_at(w, g, b, j);
      const float mn = w.mins ? min_at(w, g, b, j) : 0.0f;
      for (int r = 0; r < R; ++r) {
        const int64_t m = m0 + r;
        const float t = float(isum[r][j]) * sc;
        acc[r][j] = std::fma(t, p.rows->dx[m * nb + b], acc[r][j]);
        if (w.mins) acc[r][j] = std::fma(-mn, p.rows->xsumf[m * nb + b], acc[r][j]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < COLS; ++j) p.y[(m0 + r) * p.N + g * COLS + j] = acc[r][j];
}

#define QUNROLL _Pragma("GCC unroll 16")

// ---------------------------------------------------------------- avx2

// scale (or minimum) of 8 columns: float(d) * float(sub), both exact conversions.
__attribute__((target("avx2,fma,f16c"))) inline __m256 scales8(const c10::Half* d, const int8_t* sub) {
  const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)d));
  if (!sub) return dv;
  return _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)sub))));
}

template <int R>
__attribute__((target("avx2,fma,f16c"))) void qtile_avx2(const QProblem& p, int64_t m0, int64_t g) {
  const QWeights& w = p.w;
  const int64_t nb = w.blocks(), S = w.supers();
  __m256 acc[R][2];
  QUNROLL for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  alignas(64) uint8_t codes[64];
  for (int64_t b = 0; b < nb; ++b) {
    // Pair sums per (row, quarter of 4 columns): lane 2c + h holds column c's inputs 2h, 2h+1.
    __m256i pair[R][4];
    QUNROLL for (int r = 0; r < R; ++r) QUNROLL for (int q = 0; q < 4; ++q) pair[r][q] = _mm256_setzero_si256();
    for (int64_t k4 = b * w.block / 4; k4 < (b + 1) * w.block / 4; ++k4) {
      unpack_step(w, g, k4, codes);
      __m256i w16[4];  // 4 columns x 4 inputs each, widened to 16 bits
      QUNROLL for (int q = 0; q < 4; ++q) w16[q] = _mm256_cvtepu8_epi16(_mm_load_si128((const __m128i*)(codes + 16 * q)));
      QUNROLL for (int r = 0; r < R; ++r) {
        const int8_t* xp = p.rows->xq.data() + (m0 + r) * w.K + k4 * 4;
        const __m256i x16 = _mm256_broadcastq_epi64(_mm_cvtepi8_epi16(_mm_cvtsi32_si128(*(const int32_t*)xp)));
        QUNROLL for (int q = 0; q < 4; ++q) pair[r][q] = _mm256_add_epi32(pair[r][q], _mm256_madd_epi16(w16[q], x16));
      }
    }
    const int64_t sb = (g * S + b / w.per_super) * COLS, bb = (g * nb + b) * COLS;
    QUNROLL for (int h = 0; h < 2; ++h) {
      const __m256 sc = scales8(w.d + sb + 8 * h, w.sub ? w.sub + bb + 8 * h : nullptr);
      const __m256 mn = w.mins ? _mm256_xor_ps(scales8(w.dmin + sb + 8 * h, w.mins + bb + 8 * h), _mm256_set1_ps(-0.0f)) : _mm256_setzero_ps();
      QUNROLL for (int r = 0; r < R; ++r) {
        const int64_t m = m0 + r;
        // hadd gives columns [0 1 4 5 | 2 3 6 7] of this half; the permute puts them in order.
        __m256i sums = _mm256_hadd_epi32(pair[r][2 * h], pair[r][2 * h + 1]);
        sums = _mm256_add_epi32(_mm256_permute4x64_epi64(sums, 0xD8), _mm256_set1_epi32(-w.offset * p.rows->xsum[m * nb + b]));
        const __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(sums), sc);
        acc[r][h] = _mm256_fmadd_ps(t, _mm256_set1_ps(p.rows->dx[m * nb + b]), acc[r][h]);
        if (w.mins) acc[r][h] = _mm256_fmadd_ps(mn, _mm256_set1_ps(p.rows->xsumf[m * nb + b]), acc[r][h]);
      }
    }
  }
  QUNROLL for (int r = 0; r < R; ++r) QUNROLL for (int h = 0; h < 2; ++h) _mm256_storeu_ps(p.y + (m0 + r) * p.N + g * COLS + 8 * h, acc[r][h]);
}

// ---------------------------------------------------------------- avx512 vnni

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni,f16c")))

// The 64 codes of row (g, k4); `nib` is the loaded nibble row of its pair.
template <int BITS>
AVX512_TARGET inline __m512i codes64(const QWeights& w, int64_t g, int64_t k4, __m512i nib) {
  if constexpr (BITS == 8) {
    return _mm512_loadu_si512(w.codes + (g * (w.K / 4) + k4) * 64);
  } else {
    const __m512i low = _mm512_set1_epi8(0x0F);
    __m512i c = (k4 & 1) ? _mm512_and_si512(_mm512_srli_epi16(nib, 4), low) : _mm512_and_si512(nib, low);
    constexpr int P = BITS - 4;
    QUNROLL for (int q = 0; q < P; ++q) {
      uint64_t bits;
      std::memcpy(&bits, w.planes + ((g * (w.K / 4) + k4) * P + q) * 8, 8);
      c = _mm512_mask_add_epi8(c, _cvtu64_mask64(bits), c, _mm512_set1_epi8(char(16 << q)));  // sets bit 4+q
    }
    return c;
  }
}

AVX512_TARGET inline __m512 scales16(const c10::Half* d, const int8_t* sub) {
  const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)d));
  if (!sub) return dv;
  return _mm512_mul_ps(dv, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)sub))));
}

// R rows by C groups of 16 columns: C weight vectors share each row's input broadcast, and the
// R x C integer sums are independent chains for the multiply-add units.
template <int R, int C, int BITS, int BLOCK>
AVX512_TARGET void qtile_avx512vnni(const QProblem& p, int64_t m0, int64_t g0) {
  const QWeights& w = p.w;
  const int64_t nb = w.blocks(), S = w.supers();
  __m512 acc[R][C];
  QUNROLL for (int r = 0; r < R; ++r) QUNROLL for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  const int32_t* xrow[R];
  QUNROLL for (int r = 0; r < R; ++r) xrow[r] = (const int32_t*)(p.rows->xq.data() + (m0 + r) * w.K);
  constexpr int steps = BLOCK / 4;
  for (int64_t b = 0; b < nb; ++b) {
    // Few rows: two chains per sum (even and odd steps), so multiply-adds need not wait for the one
    // before; integer sums are exact in any order, so the result is the same.
    constexpr int H = R <= 2 ? 2 : 1;
    __m512i isum[R][C], isum2[R][C];
    QUNROLL for (int r = 0; r < R; ++r) {
      const __m512i start = _mm512_set1_epi32(-w.offset * p.rows->xsum[(m0 + r) * nb + b]);
      QUNROLL for (int c = 0; c < C; ++c) isum[r][c] = start, isum2[r][c] = _mm512_setzero_si512();
    }
    __m512i nib[C];
    QUNROLL for (int c = 0; c < C; ++c) nib[c] = _mm512_setzero_si512();
    QUNROLL for (int s = 0; s < steps; ++s) {
      const int64_t k4 = b * steps + s;
      __m512i wv[C];
      QUNROLL for (int c = 0; c < C; ++c) {
        if (BITS != 8 && (k4 & 1) == 0) nib[c] = _mm512_loadu_si512(w.nibbles + ((g0 + c) * (w.K / 8) + k4 / 2) * 64);
        wv[c] = codes64<BITS>(w, g0 + c, k4, nib[c]);
      }
      QUNROLL for (int r = 0; r < R; ++r) {
        const __m512i xv = _mm512_set1_epi32(xrow[r][k4]);
        QUNROLL for (int c = 0; c < C; ++c) {
          if (H == 2 && (s & 1)) isum2[r][c] = _mm512_dpbusd_epi32(isum2[r][c], wv[c], xv);
          else isum[r][c] = _mm512_dpbusd_epi32(isum[r][c], wv[c], xv);
        }
      }
    }
    if constexpr (H == 2) {
      QUNROLL for (int r = 0; r < R; ++r) QUNROLL for (int c = 0; c < C; ++c) isum[r][c] = _mm512_add_epi32(isum[r][c], isum2[r][c]);
    }
    QUNROLL for (int c = 0; c < C; ++c) {
      const int64_t sb = ((g0 + c) * S + b / w.per_super) * COLS, bb = ((g0 + c) * nb + b) * COLS;
      const __m512 scv = scales16(w.d + sb, w.sub ? w.sub + bb : nullptr);
      const __m512 mnv = w.mins ? _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(scales16(w.dmin + sb, w.mins + bb)), _mm512_set1_epi32(int32_t(0x80000000u))))
                                : _mm512_setzero_ps();
      QUNROLL for (int r = 0; r < R; ++r) {
        const int64_t m = m0 + r;
        const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(isum[r][c]), scv);
        acc[r][c] = _mm512_fmadd_ps(t, _mm512_set1_ps(p.rows->dx[m * nb + b]), acc[r][c]);
        if (w.mins) acc[r][c] = _mm512_fmadd_ps(mnv, _mm512_set1_ps(p.rows->xsumf[m * nb + b]), acc[r][c]);
      }
    }
  }
  QUNROLL for (int r = 0; r < R; ++r) QUNROLL for (int c = 0; c < C; ++c) _mm512_storeu_ps(p.y + (m0 + r) * p.N + (g0 + c) * COLS, acc[r][c]);
}

// ---------------------------------------------------------------- dispatch

using QTile = void (*)(const QProblem&, int64_t, int64_t);

constexpr int QNB = 2;      // column groups per AVX-512 tile of several rows
constexpr int QNB_ONE = 4;  // ... and of one row: more independent sums while the weights stream

template <int R, int C, int BLOCK>
QTile avx512_for_bits(int bits) {
  switch (bits) {
    case 4: return qtile_avx512vnni<R, C, 4, BLOCK>;
    case 5: return qtile_avx512vnni<R, C, 5, BLOCK>;
    case 6: return qtile_avx512vnni<R, C, 6, BLOCK>;
    default: return qtile_avx512vnni<R, C, 8, BLOCK>;
  }
}

template <int R, int C>
QTile avx512_for_block(int bits, int block) {
  return block == 16 ? avx512_for_bits<R, C, 16>(bits) : avx512_for_bits<R, C, 32>(bits);
}

template <int C>
QTile avx512_for(int r, int bits, int block) {
  switch (r) {
    case 1: return avx512_for_block<1, C>(bits, block);
    case 2: return avx512_for_block<2, C>(bits, block);
    case 3: return avx512_for_block<3, C>(bits, block);
    default: return avx512_for_block<4, C>(bits, block);
  }
}

QTile avx512_one_row(int c, int bits, int block) {
  switch (c) {
    case 1: return avx512_for_block<1, 1>(bits, block);
    case 2: return avx512_for_block<1, 2>(bits, block);
    case 3: return avx512_for_block<1, 3>(bits, block);
    default: return avx512_for_block<1, 4>(bits, block);
  }
}

// The tile computing r rows of c groups (c is 1 except on AVX-512: up to QNB_ONE for one row, QNB
// for more).
QTile qtile_for(QVariant v, int r, int c, int bits, int block) {
  static const QTile generic[QMB] = {qtile_generic<1>, qtile_generic<2>, qtile_generic<3>, qtile_generic<4>};
  static const QTile avx2[QMB] = {qtile_avx2<1>, qtile_avx2<2>, qtile_avx2<3>, qtile_avx2<4>};
  switch (v) {
    case Q_AVX512VNNI:
      if (r == 1) return avx512_one_row(c, bits, block);
      return c == 2 ? avx512_for<2>(r, bits, block) : avx512_for<1>(r, bits, block);
    case Q_AVX2:
      return avx2[r - 1];
    default:
      return generic[r - 1];
  }
}

bool qcpu_runs(QVariant v) {
  __builtin_cpu_init();
  switch (v) {
    case Q_AVX512VNNI:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
    case Q_AVX2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");  // every AVX2 CPU has F16C
    default:
      return true;
  }
}

void qrun(const QProblem& p, QVariant v) {
  const int per_tile = v != Q_AVX512VNNI ? 1 : p.M == 1 ? QNB_ONE : QNB;
  const int64_t tiles = (p.w.G + per_tile - 1) / per_tile;
  // Threads split the column groups only; each column is computed by one thread either way.
  at::parallel_for(0, tiles, 2, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t g = t * per_tile;
      const int c = int(p.w.G - g < per_tile ? p.w.G - g : per_tile);
      for (int64_t m0 = 0; m0 < p.M; m0 += QMB) qtile_for(v, int(p.M - m0 < QMB ? p.M - m0 : QMB), c, p.w.bits, p.w.block)(p, m0, g);
    }
  });
}

QVariant checked_variant(int64_t variant) {
  TORCH_CHECK(variant >= Q_GENERIC && variant <= Q_AVX512VNNI && qcpu_runs(QVariant(variant)), "quant_rows: variant ", variant, " does not run on this CPU");
  return QVariant(variant);
}

// ---------------------------------------------------------------- the packed tensors

template <typename T>
const T* part_ptr(const at::Tensor& t, at::ScalarType type, const char* name) {
  if (!t.defined() || t.numel() == 0) return nullptr;
  TORCH_CHECK(t.device().is_cpu() && t.is_contiguous() && t.scalar_type() == type, "quant_rows: ", name, " must be a contiguous CPU tensor of ", type);
  return static_cast<const T*>(t.data_ptr());
}

// parts: codes, nibbles, planes, d, sub, dmin, mins (absent: empty); form: bits, block, offset, per_super, K.
QWeights weights_from(at::TensorList parts, at::IntArrayRef form) {
  TORCH_CHECK(parts.size() == 7 && form.size() == 5, "quant_rows: 7 weight parts and 5 form numbers");
  QWeights w{int(form[0]), int(form[1]), int(form[3]), int32_t(form[2]),
             part_ptr<uint8_t>(parts[0], at::kByte, "codes"), part_ptr<uint8_t>(parts[1], at::kByte, "nibbles"),
             part_ptr<uint8_t>(parts[2], at::kByte, "planes"), part_ptr<c10::Half>(parts[3], at::kHalf, "d"),
             part_ptr<int8_t>(parts[4], at::kChar, "sub"), part_ptr<c10::Half>(parts[5], at::kHalf, "dmin"),
             part_ptr<int8_t>(parts[6], at::kChar, "mins"), parts[3].size(0), form[4]};
  TORCH_CHECK(w.bits == 4 || w.bits == 5 || w.bits == 6 || w.bits == 8, "quant_rows: codes of 4, 5, 6 or 8 bits, not ", w.bits);
  TORCH_CHECK(w.block == 16 || w.block == 32, "quant_rows: block size 16 or 32, not ", w.block);
  TORCH_CHECK(w.K > 0 && w.K % XB == 0 && w.per_super >= 1 && w.blocks() % w.per_super == 0, "quant_rows: the input size must be whole super-blocks of 32-multiples");
  TORCH_CHECK(w.offset >= 0 && w.offset <= 255, "quant_rows: offset must be in [0, 255]");
  TORCH_CHECK(w.d && parts[3].numel() == w.G * w.supers() * COLS, "quant_rows: d must be [groups, super-blocks, 16]");
  TORCH_CHECK(!w.sub || parts[4].numel() == w.G * w.blocks() * COLS, "quant_rows: sub must be [groups, blocks, 16]");
  TORCH_CHECK(w.sub || w.per_super == 1, "quant_rows: super-blocks need sub-scales");
  TORCH_CHECK(!w.mins == !w.dmin, "quant_rows: minima need dmin and mins");
  TORCH_CHECK(!w.mins || (parts[5].numel() == parts[3].numel() && parts[6].numel() == w.G * w.blocks() * COLS), "quant_rows: dmin, mins shaped as d, sub");
  if (w.bits == 8) {
    TORCH_CHECK(w.codes && parts[0].numel() == w.G * w.K * COLS, "quant_rows: 8-bit codes must be [groups, in/4, 64]");
  } else {
    TORCH_CHECK(w.nibbles && parts[1].numel() == w.G * w.K * COLS / 2, "quant_rows: nibbles must be [groups, in/8, 64]");
    TORCH_CHECK(w.plane_count() == 0 || (w.planes && parts[2].numel() == w.G * (w.K / 4) * w.plane_count() * 8), "quant_rows: planes must be [groups, in/4, bits-4, 8]");
  }
  return w;
}

// ---------------------------------------------------------------- operators

// out[m, n] = round(sums[m, n] + bias[n]): bias (exactly widened) added in float32, one rounding to T.
template <typename T>
void finish(const float* sums, const at::Tensor& bias, int64_t M, int64_t NP, int64_t N, T* out) {
  const bool bf16_bias = bias.defined() && bias.scalar_type() == at::kBFloat16;
  const void* b = bias.defined() ? bias.data_ptr() : nullptr;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      const float s = sums[m * NP + n];
      if (!b)
        out[m * N + n] = T(s);
      else
        out[m * N + n] = T(s + (bf16_bias ? float(static_cast<const c10::BFloat16*>(b)[n]) : static_cast<const float*>(b)[n]));
    }
}

at::Tensor quant_rows(const at::Tensor& x, at::TensorList parts, at::IntArrayRef form, const c10::optional<at::Tensor>& bias, int64_t out_features, int64_t variant) {
  const QVariant v = checked_variant(variant);
  TORCH_CHECK(x.device().is_cpu(), "quant_rows: CPU tensors only");
  TORCH_CHECK(x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kFloat, "quant_rows: bf16 or float32 input");
  const QWeights w = weights_from(parts, form);
  const int64_t K = x.size(-1);
  TORCH_CHECK(K == w.K, "quant_rows: input has ", K, " features, the weights ", w.K);
  TORCH_CHECK(out_features > 0 && out_features <= w.G * COLS, "quant_rows: ", out_features, " outputs do not fit the codes");
  const at::Tensor x2 = x.reshape({-1, K}).contiguous();  // [M, K]
  const int64_t M = x2.size(0), NP = w.G * COLS;
  const QRows rows = quantize_rows(x2, w.block);
  std::vector<float> sums(M * NP);  // [M, NP]
  qrun(QProblem{w, M, NP, &rows, sums.data()}, v);
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = out_features;
  at::Tensor out = at::empty(shape, x.options());  // [..., N], x's dtype
  at::Tensor b = bias.has_value() && bias->defined() ? bias->contiguous() : at::Tensor();
  TORCH_CHECK(!b.defined() || (b.numel() == out_features && (b.scalar_type() == at::kFloat || b.scalar_type() == at::kBFloat16)), "quant_rows: bias must be [out] float32 or bf16");
  if (x.scalar_type() == at::kBFloat16)
    finish(sums.data(), b, M, NP, out_features, out.data_ptr<c10::BFloat16>());
  else
    finish(sums.data(), b, M, NP, out_features, out.data_ptr<float>());
  return out;
}

// Rounds float32 to bf16 bits, to nearest even (c10::BFloat16's rule for finite values).
AVX512_TARGET inline __m256i bf16_bits(__m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))), 16));
}

// One group's 16 rows of the dense matrix (row stride K), as the scalar loop below computes them.
template <int BITS, bool BF16>
AVX512_TARGET void dequantize_group_avx512(const QWeights& w, int64_t g, void* rows) {
  const int64_t nb = w.blocks(), S = w.supers(), K = w.K;
  const int steps = w.block / 4;
  __m512i spread[4];  // quarter q of a code row holds columns 4q..4q+3, four inputs each
  for (int q = 0; q < 4; ++q) spread[q] = _mm512_set_epi32(4 * q + 3, 4 * q + 3, 4 * q + 3, 4 * q + 3, 4 * q + 2, 4 * q + 2, 4 * q + 2, 4 * q + 2,
                                                           4 * q + 1, 4 * q + 1, 4 * q + 1, 4 * q + 1, 4 * q, 4 * q, 4 * q, 4 * q);
  const __m512i offset = _mm512_set1_epi32(w.offset);
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t sb = (g * S + b / w.per_super) * COLS, bb = (g * nb + b) * COLS;
    const __m512 sc = scales16(w.d + sb, w.sub ? w.sub + bb : nullptr);
    const __m512 mn = w.mins ? scales16(w.dmin + sb, w.mins + bb) : _mm512_setzero_ps();
    __m512i nib = _mm512_setzero_si512();
    for (int s = 0; s < steps; ++s) {
      const int64_t k4 = b * steps + s;
      if (BITS != 8 && (k4 & 1) == 0) nib = _mm512_loadu_si512(w.nibbles + (g * (w.K / 8) + k4 / 2) * 64);
      const __m512i codes = codes64<BITS>(w, g, k4, nib);
      for (int q = 0; q < 4; ++q) {
        const __m512i c = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(codes, q)), offset);
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(c), _mm512_permutexvar_ps(spread[q], sc));
        if (w.mins) v = _mm512_sub_ps(v, _mm512_permutexvar_ps(spread[q], mn));
        for (int j = 0; j < 4; ++j) {
          const int64_t at = (4 * q + j) * K + k4 * 4;
          if constexpr (BF16) {
            alignas(32) uint64_t fours[4];  // column 4q+j's four bf16 values in fours[j]
            _mm256_store_si256((__m256i*)fours, bf16_bits(v));
            std::memcpy(static_cast<uint16_t*>(rows) + at, &fours[j], 8);
          } else {
            _mm_storeu_ps(static_cast<float*>(rows) + at, j == 0 ? _mm512_extractf32x4_ps(v, 0) : j == 1 ? _mm512_extractf32x4_ps(v, 1)
                                                          : j == 2 ? _mm512_extractf32x4_ps(v, 2) : _mm512_extractf32x4_ps(v, 3));
          }
        }
      }
    }
  }
}

template <bool BF16>
void dequantize_group_fast(const QWeights& w, int64_t g, void* rows) {
  switch (w.bits) {
    case 4: return dequantize_group_avx512<4, BF16>(w, g, rows);
    case 5: return dequantize_group_avx512<5, BF16>(w, g, rows);
    case 6: return dequantize_group_avx512<6, BF16>(w, g, rows);
    default: return dequantize_group_avx512<8, BF16>(w, g, rows);
  }
}

template <typename T>
void dequantize_group(const QWeights& w, int64_t g, T* rows) {
  const int64_t nb = w.blocks(), K = w.K;
  uint8_t codes[32 / 4][64];
  for (int64_t b = 0; b < nb; ++b) {
    const int steps = w.block / 4;
    for (int s = 0; s < steps; ++s) unpack_step(w, g, b * steps + s, codes[s]);
    for (int j = 0; j < COLS; ++j) {
      const float sc = scale_at(w, g, b, j), m = w.mins ? min_at(w, g, b, j) : 0.0f;
      T* row = rows + j * K + b * w.block;
      for (int s = 0; s < steps; ++s)
        for (int t = 0; t < 4; ++t) {
          const float v = float(int32_t(codes[s][j * 4 + t]) - w.offset) * sc;
          row[s * 4 + t] = T(w.mins ? v - m : v);
        }
    }
  }
}

template <typename T>
void dequantize_into(const QWeights& w, T* out, QVariant v) {
  const bool fast = v == Q_AVX512VNNI;
  at::parallel_for(0, w.G, 1, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      T* rows = out + g * COLS * w.K;
      if (fast)
        dequantize_group_fast<std::is_same_v<T, c10::BFloat16>>(w, g, rows);
      else
        dequantize_group(w, g, rows);
    }
  });
}

// The weights as dense rows written into `out`, [groups * 16, K] of float32 or bf16 (prompt chunks
// multiply them with a GEMM; the caller keeps one buffer for every layer).
void quant_dequantize_into(at::TensorList parts, at::IntArrayRef form, at::Tensor out, int64_t variant) {
  const QVariant v = checked_variant(variant);
  const QWeights w = weights_from(parts, form);
  TORCH_CHECK(out.is_contiguous() && out.dim() == 2 && out.size(0) == w.G * COLS && out.size(1) == w.K, "quant_dequantize_into: out must be a contiguous [groups * 16, in] matrix");
  if (out.scalar_type() == at::kFloat)
    dequantize_into(w, out.data_ptr<float>(), v);
  else if (out.scalar_type() == at::kBFloat16)
    dequantize_into(w, out.data_ptr<c10::BFloat16>(), v);
  else
    TORCH_CHECK(false, "quant_dequantize_into: float32 or bfloat16 only");
}

// x [..., K] replaced by the values of its input codes (the kernel's quantization), in x's dtype:
// wide passes multiply these, so a prompt computes what its tokens' steps compute, up to rounding.
// Row by row into the output: a prompt chunk's layers allocate nothing else.
// One bf16 row as requantize_rows computes it, 16 lanes at a time (the same operations: max is
// exact in any order; multiply, clamp, round to even, multiply back, round to bf16).
AVX512_TARGET void requantize_row_bf16(const uint16_t* x, int64_t K, uint16_t* out) {
  const __m512 hi = _mm512_set1_ps(127.0f), lo = _mm512_set1_ps(-127.0f), big = _mm512_set1_ps(12582912.0f);
  const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF);
  for (int64_t k0 = 0; k0 < K; k0 += XB) {
    __m512 v[2];
    for (int h = 0; h < 2; ++h)
      v[h] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)(x + k0 + 16 * h))), 16));
    const __m512 a = _mm512_max_ps(_mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v[0]), magnitude)),
                                   _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v[1]), magnitude)));
    const float amax = _mm512_reduce_max_ps(a);
    const float d = amax / 127.0f;
    const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f), dv = _mm512_set1_ps(d);
    for (int h = 0; h < 2; ++h) {
      const __m512 c = _mm512_min_ps(hi, _mm512_max_ps(lo, _mm512_mul_ps(v[h], id)));
      const __m512 q = _mm512_sub_ps(_mm512_add_ps(c, big), big);
      _mm256_storeu_si256((__m256i*)(out + k0 + 16 * h), bf16_bits(_mm512_mul_ps(q, dv)));
    }
  }
}

template <typename T>
void requantize_rows(const T* x, int64_t M, int64_t K, T* out, QVariant v) {
  if constexpr (std::is_same_v<T, c10::BFloat16>) {
    if (v == Q_AVX512VNNI) {
      at::parallel_for(0, M, 16, [&](int64_t begin, int64_t end) {
        for (int64_t m = begin; m < end; ++m)
          requantize_row_bf16(reinterpret_cast<const uint16_t*>(x + m * K), K, reinterpret_cast<uint16_t*>(out + m * K));
      });
      return;
    }
  }
  at::parallel_for(0, M, 16, [&](int64_t begin, int64_t end) {
    const int64_t nb = K / XB;
    std::vector<float> row(K), dx(nb), xsumf(nb);
    std::vector<int8_t> xq(K);
    std::vector<int32_t> xsum(nb);
    for (int64_t m = begin; m < end; ++m) {
      for (int64_t k = 0; k < K; ++k) row[k] = float(x[m * K + k]);
      quantize_row(row.data(), K, XB, xq.data(), dx.data(), xsum.data(), xsumf.data());
      for (int64_t k = 0; k < K; ++k) out[m * K + k] = T(float(xq[k]) * dx[k / XB]);
    }
  });
}

at::Tensor quant_inputs(const at::Tensor& x, int64_t variant) {
  const QVariant v = checked_variant(variant);
  TORCH_CHECK(x.device().is_cpu() && x.size(-1) % XB == 0, "quant_inputs: CPU input whose size is a multiple of 32");
  const int64_t K = x.size(-1);
  const at::Tensor x2 = x.reshape({-1, K}).contiguous();  // [M, K]
  at::Tensor out = at::empty_like(x2);  // [M, K]
  if (x2.scalar_type() == at::kBFloat16)
    requantize_rows(x2.data_ptr<c10::BFloat16>(), x2.size(0), K, out.data_ptr<c10::BFloat16>(), v);
  else if (x2.scalar_type() == at::kFloat)
    requantize_rows(x2.data_ptr<float>(), x2.size(0), K, out.data_ptr<float>(), v);
  else
    TORCH_CHECK(false, "quant_inputs: bf16 or float32 input");
  return out.reshape(x.sizes());
}

std::vector<int64_t> quant_variants() {
  std::vector<int64_t> out;
  for (int64_t v = Q_GENERIC; v <= Q_AVX512VNNI; ++v)
    if (qcpu_runs(QVariant(v))) out.push_back(v);
  return out;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(guidecode, m) {
  m.def("quant_rows(Tensor x, Tensor[] parts, int[] form, Tensor? bias, int out_features, int variant) -> Tensor");
  m.impl("quant_rows", c10::DispatchKey::CPU, TORCH_FN(quant_rows));
  m.def("quant_dequantize_into(Tensor[] parts, int[] form, Tensor(a!) out, int variant) -> ()");
  m.impl("quant_dequantize_into", c10::DispatchKey::CPU, TORCH_FN(quant_dequantize_into));
  m.def("quant_inputs(Tensor x, int variant) -> Tensor");
  m.impl("quant_inputs", c10::DispatchKey::CPU, TORCH_FN(quant_inputs));
  m.def("quant_rows_variants() -> int[]", &quant_variants);
}
