// Newton-Schulz FLOPs count towards MFU because they are matmuls the step must do; on a CPU
// without bf16 units a bf16 iteration at 4.8 GFLOP/s would otherwise read as a wasted step.
#include "launch/mfu.h"

#include <fmt/format.h>

#include <algorithm>

#include "runtime/cpu_info.h"
#include "runtime/log.h"
#include "runtime/peak_flops.h"
#include "runtime/precision.h"

namespace nt {
namespace {

constexpr int64_t kMaxMeasuredRows = 2048;  // enough rows to reach the kernel's peak

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
  if (!measured_) {
    model_peak_ = muon_peak_ = peak_override;
    return;
  }
  // The MLP's up-projection stands for the model's matmuls, X X^T of the widest matrix for
  // Newton-Schulz's.
  const int64_t c = model->config().n_embd;
  model_peak_ = peak_flops(model_dtype_, device, std::min(rows, kMaxMeasuredRows), c, 4 * c);
  muon_peak_ = peak_flops(muon_dtype_, device, c, 4 * c, c);
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

void log_precision(torch::Device device, torch::ScalarType model_dtype,
                   torch::ScalarType muon_dtype, int64_t m, int64_t k, int64_t n) {
  const bool native = bf16_matmul_native(device);
  if (device.is_cpu()) {
    const CpuInfo& cpu = cpu_info();
    log0("cpu: {}, {} CPUs allowed; bf16 matmul: {}", cpu.model_name, allowed_cpu_count(),
         native ? (cpu.amx_bf16 ? "native (amx_bf16)" : "native (avx512_bf16)")
                : "not native (no avx512_bf16 or amx_bf16)");
  } else {
    log0("device: {}; bf16 matmul: {}", device.str(), native ? "native" : "not native");
  }
  log0("precision: model matmuls {}, Muon's Newton-Schulz {}", dtype_name(model_dtype),
       dtype_name(muon_dtype));
  if (native || (model_dtype != torch::kBFloat16 && muon_dtype != torch::kBFloat16)) return;
  const double bf16 = measure_matmul_flops(torch::kBFloat16, device, m, k, n);
  const double fp32 = measure_matmul_flops(torch::kFloat32, device, m, k, n);
  log0(
      "warning: bfloat16 on a processor without bf16 matmul units: a ({}, {}) x ({}, {}) matmul "
      "runs at {:.1f} GFLOP/s in bfloat16 here against {:.1f} GFLOP/s in float32 ({:.0f}x "
      "slower); --dtype=float32 --muon_dtype=auto trains faster",
      m, k, k, n, bf16 / 1e9, fp32 / 1e9, fp32 / bf16);
}

}  // namespace nt
