// Newton-Schulz FLOPs count towards MFU because they are matmuls the step must do; on a CPU
// without bf16 units a bf16 iteration at 4.8 GFLOP/s would otherwise read as a wasted step.
#include "trainer/mfu.h"

#include <fmt/format.h>

#include <algorithm>

#include "runtime/peak_flops.h"
#include "runtime/precision.h"

namespace nt {
namespace {

constexpr int64_t kMaxMeasuredRows = 2048;  // enough rows to reach the kernel's peak

struct Shape {
  int64_t m, k, n;  // (m, k) x (k, n)
};

}  // namespace

MfuMeter::MfuMeter(const GPT& model, const Muon& muon, int64_t tokens_per_step, int64_t rows,
                   int world_size, torch::Device device, double peak_override)
    : model_dtype_(model->compute_dtype()),
      muon_dtype_(muon.options().ns_dtype),
      world_size_(world_size),
      measured_(peak_override <= 0) {
  model_flops_ = static_cast<double>(model->estimate_flops()) * tokens_per_step;
  for (const auto& p : model->matrix_params())
    muon_flops_ += newton_schulz_flops(p.size(0), p.size(1), muon.options().ns_steps);
  // The MLP's up-projection stands for the model's matmuls, X X^T of the widest matrix for
  // Newton-Schulz's.
  const int64_t c = model->config().n_embd;
  const Shape model_shape{std::min(rows, kMaxMeasuredRows), c, 4 * c}, muon_shape{c, 4 * c, c};
  if (measured_) {
    model_peak_ = peak_flops(model_dtype_, device, model_shape.m, model_shape.k, model_shape.n);
    muon_peak_ = peak_flops(muon_dtype_, device, muon_shape.m, muon_shape.k, muon_shape.n);
  } else {
    model_peak_ = muon_peak_ = peak_override;
  }
  if (bf16_matmul_native(device)) return;
  // The bf16 part's peak as measured above (measured here where --peak_flops or CUDA's
  // published figure stood in for it), against fp32 at the same shape.
  const bool model_bf16 = model_dtype_ == torch::kBFloat16;
  if (!model_bf16 && muon_dtype_ != torch::kBFloat16) return;
  const Shape& shape = model_bf16 ? model_shape : muon_shape;
  const double bf16 =
      measured_ && device.is_cpu()
          ? (model_bf16 ? model_peak_ : muon_peak_)
          : measure_matmul_flops(torch::kBFloat16, device, shape.m, shape.k, shape.n);
  const double fp32 = measure_matmul_flops(torch::kFloat32, device, shape.m, shape.k, shape.n);
  bf16_warning_ = fmt::format(
      "bfloat16 on a processor without bf16 matmul units: a ({}, {}) x ({}, {}) matmul runs at "
      "{:.1f} GFLOP/s in bfloat16 here against {:.1f} GFLOP/s in float32 ({:.0f}x slower); "
      "--dtype=float32 --muon_dtype=auto trains faster",
      shape.m, shape.k, shape.k, shape.n, bf16 / 1e9, fp32 / 1e9, fp32 / bf16);
}

double MfuMeter::mfu(double step_seconds) const {
  const double ideal = model_flops_ / model_peak_ + muon_flops_ / muon_peak_;
  return 100.0 * ideal / (step_seconds * world_size_);
}

std::string MfuMeter::describe() const {
  return fmt::format("model {} at {:.1f} GFLOP/s, Muon {} at {:.1f} GFLOP/s (per rank, {})",
                     dtype_name(model_dtype_), model_peak_ / 1e9, dtype_name(muon_dtype_),
                     muon_peak_ / 1e9, measured_ ? "measured" : "--peak_flops");
}

}  // namespace nt
