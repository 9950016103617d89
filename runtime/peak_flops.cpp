// Measured on CPU because no table of CPU peaks would be right for the many machines this
// runs on; the matmul kernel the model itself uses, at the model's shapes, is the honest ceiling.
#include "runtime/peak_flops.h"

#include <chrono>

namespace nt {

double measure_matmul_flops(torch::ScalarType dtype, torch::Device device, int64_t m, int64_t k,
                            int64_t n) {
  torch::NoGradGuard no_grad;
  auto options = torch::TensorOptions(device).dtype(dtype);
  auto a = torch::randn({m, k}, options), b = torch::randn({k, n}, options);
  auto sync = [&](const torch::Tensor& c) { c.sum().item<double>(); };
  sync(torch::matmul(a, b));  // warm-up
  double best = 0.0;
  for (int i = 0; i < 10; ++i) {  // the best of several: a busy moment only lowers one
    const auto t0 = std::chrono::steady_clock::now();
    auto c = torch::matmul(a, b);
    sync(c);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * static_cast<double>(m * k * n) / seconds);
  }
  return best;
}

double peak_flops(torch::ScalarType dtype, torch::Device device, int64_t m, int64_t k, int64_t n) {
  if (device.is_cuda()) return kH100Bf16Flops;
  return measure_matmul_flops(dtype, device, m, k, n);
}

}  // namespace nt
