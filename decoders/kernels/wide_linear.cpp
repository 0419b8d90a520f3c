// Prompt-size linear layers (passes wider than the row kernel's 64 rows) whose bits do not depend
// on the number of threads.
//
// PyTorch's GEMM (oneDNN, AMX where present) plans its work by the threads it may use: with
// several, it may split a layer's input dimension between them and add their partial sums (seen
// on the Intel Xeon with AMX: the 0.5B model's 4864-wide down projection), so the same prompt
// prefilled with one thread and with two gave keys and values that differed in the last bits, and
// greedy text could part ways at a near-tie. Then an evaluation spread over one-thread workers
// would not repeat a plain two-thread run.
//
// Here the output columns are cut into blocks whose width depends on the layer's output size
// alone, and each block is one library call made on one thread whose thread counts are all one:
// OpenMP's, which oneDNN plans by, and MKL's (the float32 GEMM's), which PyTorch keeps per thread,
// so that a pool thread that first ran ATen code under another count keeps that count until told
// (seen: MKL then added a float32 block's sums in an order that changed from run to run). An OpenMP
// loop shares the blocks out among the caller's threads. So the library plans and runs every block
// alone, the same way, and a column's bits are those of that call, whatever the thread count. The
// library stays in charge of speed (AMX tiles, blocking); nothing here assumes which kernel it
// picks.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <torch/library.h>

#include <algorithm>
#include <exception>
#include <functional>
#include <vector>

namespace {

// About eight blocks on a large layer (two threads take four each; wide calls keep AMX's tiles
// busy), none narrower than 128 columns; a function of the output size only.
int64_t block_columns(int64_t out) {
  int64_t eighth = (out + 7) / 8;
  return std::clamp<int64_t>((eighth + 63) / 64 * 64, 128, 2048);
}

// PyTorch's thread count set to one while it lives, then given back (also on an exception).
struct OneThread {
  int saved = at::get_num_threads();
  OneThread() { at::set_num_threads(1); }
  ~OneThread() { at::set_num_threads(saved); }
};

// Runs block(0) .. block(blocks - 1) on `threads` OpenMP threads, each block once, and rethrows
// the first exception one raised.
void each_block(int threads, int64_t blocks, const std::function<void(int64_t)>& block) {
  std::exception_ptr failed;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t b = 0; b < blocks; ++b) {
    try {
      // This thread's own counts: OpenMP's (oneDNN plans by it) and MKL's, which PyTorch keeps per
      // thread and a pool thread may have set to another value when it first ran ATen code.
      at::set_num_threads(1);
      block(b);
    } catch (...) {  // an exception must not leave the region
#pragma omp critical(guidecode_wide_linear)
      if (!failed) failed = std::current_exception();
    }
  }
  if (failed) std::rethrow_exception(failed);
}

// x [..., rows, in], w [out, in], bias [out] or none -> [..., rows, out] in x's dtype.
at::Tensor wide_linear(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& bias) {
  TORCH_CHECK(x.size(-1) == w.size(1), "wide_linear: input size ", x.size(-1), " against weights of ", w.size(1));
  // Blocks have no backward: a caller that records gradients (a model run outside the engine's
  // inference mode) gets PyTorch's own product, as planned for its threads.
  const bool recording = x.requires_grad() || w.requires_grad() || (bias.has_value() && bias->requires_grad());
  if (at::GradMode::is_enabled() && recording) return at::linear(x, w, bias);
  at::Tensor flat = x.reshape({-1, x.size(-1)}).contiguous();  // [rows, in]
  const int64_t out = w.size(0);
  const int64_t width = block_columns(out);
  at::Tensor y = at::empty({flat.size(0), out}, flat.options());  // [rows, out]
  const at::ThreadLocalState caller;  // its modes (inference mode, no grad) hold on every thread
  const OneThread one;
  each_block(one.saved, (out + width - 1) / width, [&](int64_t b) {
    at::ThreadLocalStateGuard modes(caller);
    at::NoGradGuard no_grad;  // nothing is recorded, on any thread
    const int64_t start = b * width, n = std::min(width, out - start);
    at::Tensor part = bias.has_value() ? at::linear(flat, w.narrow(0, start, n), bias->narrow(0, start, n))
                                       : at::linear(flat, w.narrow(0, start, n));  // [rows, n]
    y.narrow(1, start, n).copy_(part);
  });
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = out;
  return y.view(shape);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(guidecode, m) {
  m.def("wide_linear(Tensor x, Tensor w, Tensor? bias) -> Tensor");
  m.impl("wide_linear", c10::DispatchKey::CPU, TORCH_FN(wide_linear));
}
