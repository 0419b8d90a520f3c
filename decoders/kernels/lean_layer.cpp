// One Llama-layout decoder layer for decoding-size passes over quantized weights, in two calls
// around the key/value cache's update (decoders/lean.py drives them):
//   lean_qkv:  RMSNorm, the q/k/v projections, rotary embedding -> q, k, v
//   lean_rest: attention, output projection, residual, RMSNorm, gated SiLU MLP, residual -> h
// The same ATen operations in the same order as transformers' Python layer (and the same
// guidecode::quant_rows and guidecode::exact_attention kernels), so the results are its bits; only
// the interpreter's work between them is gone. decoders/lean.py checks the agreement on a probe
// before the engine uses these.

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <tuple>
#include <vector>

namespace {

using QuantRows = at::Tensor(const at::Tensor&, at::TensorList, at::IntArrayRef, const c10::optional<at::Tensor>&, int64_t, int64_t);
using Attention = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&, double, int64_t);

at::Tensor quant_rows(const at::Tensor& x, at::TensorList parts, at::IntArrayRef form, const c10::optional<at::Tensor>& bias,
                      int64_t out, int64_t variant) {
  static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("guidecode::quant_rows", "").typed<QuantRows>();
  return op.call(x, parts, form, bias, out, variant);
}

// transformers' Llama RMSNorm: float32 variance, the product rounded back, times the weight.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor h = x.to(at::kFloat);
  at::Tensor variance = h.pow(2).mean(-1, true);
  h = h * at::rsqrt(variance + eps);
  return weight * h.to(x.scalar_type());
}

at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

// The projections q, k, v (or gate, up) of one input: one call where they are fused into one
// layer (fused != 0: the first layer's arguments are the fused layer's, its columns in order), else
// one call each. Returns the outputs, [..., width_i] each.
std::vector<at::Tensor> project(const at::Tensor& x, std::vector<at::TensorList> parts, std::vector<at::IntArrayRef> forms,
                                std::vector<c10::optional<at::Tensor>> biases, std::vector<int64_t> widths, bool fused, int64_t variant) {
  std::vector<at::Tensor> outs;
  if (fused) {
    int64_t total = 0;
    for (int64_t w : widths) total += w;
    at::Tensor y = quant_rows(x, parts[0], forms[0], biases[0], total, variant);
    int64_t start = 0;
    for (int64_t w : widths) {
      outs.push_back(y.slice(-1, start, start + w));
      start += w;
    }
  } else {
    for (size_t i = 0; i < widths.size(); ++i) outs.push_back(quant_rows(x, parts[i], forms[i], biases[i], widths[i], variant));
  }
  return outs;
}

// h [1, k, hidden] -> q [1, heads, k, D], key and value [1, kv_heads, k, D]; cos, sin [1, 1, k, D].
// dims: heads, kv_heads, head_dim, fused, variant.
std::tuple<at::Tensor, at::Tensor, at::Tensor> lean_qkv(
    const at::Tensor& h, const at::Tensor& norm, double eps, at::TensorList q_parts, at::IntArrayRef q_form,
    const c10::optional<at::Tensor>& q_bias, at::TensorList k_parts, at::IntArrayRef k_form, const c10::optional<at::Tensor>& k_bias,
    at::TensorList v_parts, at::IntArrayRef v_form, const c10::optional<at::Tensor>& v_bias, const at::Tensor& cos,
    const at::Tensor& sin, at::IntArrayRef dims) {
  TORCH_CHECK(dims.size() == 5, "lean_qkv: dims = heads, kv_heads, head_dim, fused, variant");
  const int64_t heads = dims[0], kv_heads = dims[1], D = dims[2], variant = dims[4];
  at::Tensor x = rms_norm(h, norm, eps);
  auto y = project(x, {q_parts, k_parts, v_parts}, {q_form, k_form, v_form}, {q_bias, k_bias, v_bias},
                   {heads * D, kv_heads * D, kv_heads * D}, dims[3] != 0, variant);
  const int64_t k = h.size(1);
  at::Tensor q = y[0].view({1, k, -1, D}).transpose(1, 2);
  at::Tensor key = y[1].view({1, k, -1, D}).transpose(1, 2);
  at::Tensor value = y[2].view({1, k, -1, D}).transpose(1, 2);
  q = (q * cos) + (rotate_half(q) * sin);
  key = (key * cos) + (rotate_half(key) * sin);
  return {q, key, value};
}

// The rest of the layer after the cache update: h + attention, then h + MLP.
// dims: hidden, intermediate, gate/up fused, linear variant, attention variant.
at::Tensor lean_rest(const at::Tensor& h, const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                     const c10::optional<at::Tensor>& visible, double scale, at::TensorList o, at::IntArrayRef o_form,
                     const c10::optional<at::Tensor>& o_bias, const at::Tensor& norm, double eps, at::TensorList gate,
                     at::IntArrayRef gate_form, const c10::optional<at::Tensor>& gate_bias, at::TensorList up,
                     at::IntArrayRef up_form, const c10::optional<at::Tensor>& up_bias, at::TensorList down,
                     at::IntArrayRef down_form, const c10::optional<at::Tensor>& down_bias, at::IntArrayRef dims) {
  TORCH_CHECK(dims.size() == 5, "lean_rest: dims = hidden, intermediate, fused, variant, attention variant");
  const int64_t hidden_size = dims[0], inter = dims[1], variant = dims[3], attention_variant = dims[4];
  static auto attend = c10::Dispatcher::singleton().findSchemaOrThrow("guidecode::exact_attention", "").typed<Attention>();
  at::Tensor out = attend.call(q, keys, values, visible, scale, attention_variant);  // [1, k, heads, D]
  out = out.reshape({h.size(0), h.size(1), -1}).contiguous();
  at::Tensor hidden = h + quant_rows(out, o, o_form, o_bias, hidden_size, variant);
  at::Tensor x = rms_norm(hidden, norm, eps);
  auto gu = project(x, {gate, up}, {gate_form, up_form}, {gate_bias, up_bias}, {inter, inter}, dims[2] != 0, variant);
  at::Tensor act = at::silu(gu[0]) * gu[1];
  return hidden + quant_rows(act, down, down_form, down_bias, hidden_size, variant);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(guidecode, m) {
  m.def("lean_qkv(Tensor h, Tensor norm, float eps, Tensor[] q, int[] q_form, Tensor? q_bias, Tensor[] k, int[] k_form, Tensor? k_bias, Tensor[] v, int[] v_form, Tensor? v_bias, Tensor cos, Tensor sin, int[] dims) -> (Tensor, Tensor, Tensor)");
  m.impl("lean_qkv", c10::DispatchKey::CPU, TORCH_FN(lean_qkv));
  m.def("lean_rest(Tensor h, Tensor q, Tensor keys, Tensor values, Tensor? visible, float scale, Tensor[] o, int[] o_form, Tensor? o_bias, Tensor norm, float eps, Tensor[] gate, int[] gate_form, Tensor? gate_bias, Tensor[] up, int[] up_form, Tensor? up_bias, Tensor[] down, int[] down_form, Tensor? down_bias, int[] dims) -> Tensor");
  m.impl("lean_rest", c10::DispatchKey::CPU, TORCH_FN(lean_rest));
}
