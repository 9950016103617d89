// Newton-Schulz FLOPs count towards MFU because they are matmuls the step must do; on a CPU
// without bf16 units a bf16 iteration at 4.8 GFLOP/s would otherwise read as a wasted step.
#include "trainer/mfu.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

#include "runtime/new_file.h"
#include "runtime/peak_flops.h"
#include "runtime/precision.h"

namespace nt {
namespace {

constexpr int64_t kMaxMeasuredRows = 2048;  // enough rows to reach the kernel's peak

struct Shape {
  int64_t m, k, n;  // (m, k) x (k, n)
};

// What `path` holds ({} when it is missing, larger than a cache can be, or damaged: a worker
// killed while writing it leaves that, and the peaks are measured again).
nlohmann::json read_cache(const std::string& path) {
  std::string text;
  const int fd = path.empty() ? -1 : ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return nlohmann::json::object();
  std::array<char, 4096> chunk;
  ssize_t n;
  while ((n = ::read(fd, chunk.data(), chunk.size())) > 0 && text.size() < 65536)
    text.append(chunk.data(), static_cast<size_t>(n));
  ::close(fd);
  auto known = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return known.is_object() ? known : nlohmann::json::object();
}

// The peak of `dtype` at `shape`, from `known` when measured there under the same key (dtype,
// shape, device and thread count), else measured and added to it.
double known_or_measured_peak(nlohmann::json& known, bool* reused, torch::ScalarType dtype,
                              torch::Device device, const Shape& shape) {
  const std::string key =
      fmt::format("{} ({}, {}) x ({}, {}) on {}, {} threads", dtype_name(dtype), shape.m, shape.k,
                  shape.k, shape.n, device.str(), at::get_num_threads());
  const auto found = known.find(key);
  if (found != known.end() && found->is_number() && found->get<double>() > 0) {
    *reused = true;
    return found->get<double>();
  }
  *reused = false;
  const double peak = peak_flops(dtype, device, shape.m, shape.k, shape.n);
  known[key] = peak;
  return peak;
}

}  // namespace

MfuMeter::MfuMeter(const GPT& model, const Muon& muon, int64_t tokens_per_step, int64_t rows,
                   int world_size, torch::Device device, double peak_override,
                   const std::string& cache_file)
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
    nlohmann::json known = read_cache(cache_file);
    bool model_reused = false, muon_reused = false;
    model_peak_ = known_or_measured_peak(known, &model_reused, model_dtype_, device, model_shape);
    muon_peak_ = known_or_measured_peak(known, &muon_reused, muon_dtype_, device, muon_shape);
    reused_ = model_reused && muon_reused;
    // A failed write only costs the next attempt a measurement.
    if (!reused_ && !cache_file.empty()) {
      try {
        const int fd = create_new_file(cache_file);
        const std::string text = known.dump();
        if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
          ::ftruncate(fd, 0);
        ::close(fd);
      } catch (const std::runtime_error&) {
      }
    }
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
                     muon_peak_ / 1e9,
                     !measured_ ? "--peak_flops"
                     : reused_  ? "measured by an earlier attempt on this node"
                                : "measured");
}

}  // namespace nt
