// Chunked lm_head + soft-cap + cross-entropy. Each chunk of rows takes one matmul for its
// logits, one fused pass for its losses and d(loss)/d(logits) (model/softcap_rows on CPU, a
// dozen tensor ops elsewhere), and two matmuls for its gradients, on buffers of bounded size;
// the unfused autograd graph makes some twenty passes, each over a (tokens, vocab) tensor of its
// own (4x the peak memory at depth 6).
#include "model/softcap_cross_entropy.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "model/softcap_rows.h"

namespace nt {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Above this cap exp(logit) could overflow fp32 (e^88.7), and the softmax below skips the
// max subtraction because |logit| <= softcap: e^60 * V stays below fp32's range for any
// vocabulary under 10^12.
constexpr double kMaxSoftcap = 60.0;

void check_inputs(const torch::Tensor& h, const torch::Tensor& weight, const torch::Tensor& targets,
                  const SoftcapLossOptions& o) {
  if (h.dim() != 2 || weight.dim() != 2 || h.size(1) != weight.size(1))
    throw std::invalid_argument(
        fmt::format("softcap_cross_entropy: expected h (N, C) and weight (Vp, C), found {} and {}",
                    c10::str(h.sizes()), c10::str(weight.sizes())));
  if (targets.dim() != 1 || targets.size(0) != h.size(0) || targets.scalar_type() != torch::kInt64)
    throw std::invalid_argument(
        fmt::format("softcap_cross_entropy: expected int64 targets ({}), found {} of shape {}",
                    h.size(0), c10::toString(targets.scalar_type()), c10::str(targets.sizes())));
  if (o.vocab_size < 1 || o.vocab_size > weight.size(0))
    throw std::invalid_argument(
        fmt::format("softcap_cross_entropy: expected vocab_size in [1, {}], found {}",
                    weight.size(0), o.vocab_size));
  if (!(o.softcap > 0.0 && o.softcap <= kMaxSoftcap))
    throw std::invalid_argument(fmt::format(
        "softcap_cross_entropy: expected softcap in (0, {}], found {}", kMaxSoftcap, o.softcap));
  if (o.chunk_rows < 0)
    throw std::invalid_argument(fmt::format(
        "softcap_cross_entropy: expected chunk_rows >= 0 (0: automatic), found {}", o.chunk_rows));
}

struct ChunkResults {
  torch::Tensor loss_per_row;  // (N) fp32, 0 at ignored rows
  torch::Tensor grad_h;        // (N, C) fp32: d(sum of row losses)/dh; only with gradients
  torch::Tensor grad_weight;   // (Vp, C) fp32, rows from V on zero; only with gradients
};

// Loss and d(loss)/dz of each row from its pre-cap logits z (rows, V): the fused CPU kernel,
// the rows split over as many threads as LibTorch's intra-op pool has. loss: (rows) fp32 out; dz:
// like z, or undefined.
void rows_by_kernel(const torch::Tensor& z, const torch::Tensor& target, double softcap,
                    const torch::Tensor& loss, const torch::Tensor& dz) {
  const auto row_dtype = [](const torch::Tensor& t) {
    return t.scalar_type() == torch::kBFloat16 ? RowDtype::kBFloat16 : RowDtype::kFloat32;
  };
  const auto target_c = target.contiguous();
  SoftcapRowsJob job;
  job.logits = z.data_ptr();
  job.logits_dtype = row_dtype(z);
  job.targets = target_c.data_ptr<int64_t>();
  job.rows = z.size(0);
  job.vocab = z.size(1);
  job.softcap = static_cast<float>(softcap);
  job.loss = loss.data_ptr<float>();  // a contiguous slice of the (N) losses
  if (dz.defined()) {
    job.grad = dz.data_ptr();
    job.grad_dtype = row_dtype(dz);
  }
  // Threads of its own: at::parallel_for runs inline unless its caller is compiled with
  // OpenMP, and linking an OpenMP runtime next to the pip LibTorch's bundled one would put two
  // in one process.
  const int64_t threads = std::clamp<int64_t>(at::get_num_threads(), 1, job.rows);
  const auto scratch = torch::empty({threads, softcap_scratch_floats(job.vocab)}, loss.options());
  const auto run = [&job, &scratch, threads](int64_t t) {
    softcap_rows(job, job.rows * t / threads, job.rows * (t + 1) / threads,
                 scratch[t].data_ptr<float>());
  };
  std::vector<std::thread> workers;
  for (int64_t t = 1; t < threads; ++t) {
    try {
      workers.emplace_back(run, t);
    } catch (const std::system_error&) {  // no thread to be had: this share runs here
      run(t);
    }
  }
  run(0);
  for (auto& worker : workers) worker.join();
}

// The same with tensor ops, for other devices: a dozen passes over (rows, V).
void rows_by_tensor_ops(const torch::Tensor& z, const torch::Tensor& target, double softcap,
                        const torch::Tensor& loss, const torch::Tensor& dz) {
  const auto valid = target.ne(-1).to(torch::kFloat32);
  const auto index = target.clamp_min(0).unsqueeze(1);  // ignored rows gather column 0
  auto t = z.to(torch::kFloat32);
  t.mul_(1.0 / softcap).tanh_();  // logits = softcap * t
  auto e = t.mul(softcap).exp_();
  const auto sum = e.sum(1);
  const auto target_logit = t.gather(1, index).squeeze(1).mul_(softcap);
  loss.copy_((sum.log() - target_logit).mul_(valid));
  if (!dz.defined()) return;
  // d(loss_i)/d(logit) = softmax - onehot(target) on valid rows, 0 on ignored ones; the
  // cap's tanh contributes d(logit)/dz = 1 - t^2.
  e.mul_((valid / sum).unsqueeze(1));
  e.scatter_add_(1, index, valid.neg().unsqueeze(1));
  t.mul_(t);
  e.addcmul_(e, t, -1.0);
  dz.copy_(e);
}

ChunkResults run_chunks(const torch::Tensor& h, const torch::Tensor& weight,
                        const torch::Tensor& targets, const SoftcapLossOptions& o,
                        bool with_grads) {
  const int64_t n = h.size(0), vocab = o.vocab_size;
  const auto dtype = o.matmul_dtype;
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(h.device());
  const auto w = weight.narrow(0, 0, vocab).to(dtype);  // (V, C)
  const auto hd = h.to(dtype);
  const int64_t chunk_rows =
      o.chunk_rows > 0 ? o.chunk_rows
                       : std::max<int64_t>(256, kChunkBytes / (vocab * int64_t{sizeof(float)}));
  ChunkResults out;
  out.loss_per_row = torch::empty({n}, f32);
  torch::Tensor grad_w;
  if (with_grads) {
    out.grad_h = torch::empty({n, h.size(1)}, f32);
    out.grad_weight = torch::zeros(weight.sizes(), f32);
    grad_w = out.grad_weight.narrow(0, 0, vocab);
  }
  for (int64_t start = 0; start < n; start += chunk_rows) {
    const int64_t rows = std::min(chunk_rows, n - start);
    const auto hc = hd.narrow(0, start, rows);
    const auto target = targets.narrow(0, start, rows);
    const auto z = torch::mm(hc, w.t());  // (rows, V) pre-cap logits, in the matmul dtype
    const auto loss_rows = out.loss_per_row.narrow(0, start, rows);
    const auto dz = with_grads ? torch::empty_like(z) : torch::Tensor();
    if (z.is_cpu() && o.row_kernel) {
      rows_by_kernel(z, target, o.softcap, loss_rows, dz);
    } else {
      rows_by_tensor_ops(z, target, o.softcap, loss_rows, dz);
    }
    if (!with_grads) continue;
    auto grad_h_rows = out.grad_h.narrow(0, start, rows);
    if (dtype == torch::kFloat32) {
      torch::mm_out(grad_h_rows, dz, w);
      grad_w.addmm_(dz.t(), hc);
    } else {  // bf16 products are accumulated into the fp32 gradients
      grad_h_rows.copy_(torch::mm(dz, w));
      grad_w.add_(torch::mm(dz.t(), hc));
    }
  }
  return out;
}

struct SoftcapCrossEntropyFunction : torch::autograd::Function<SoftcapCrossEntropyFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& h,
                               const torch::Tensor& weight, const torch::Tensor& targets,
                               const SoftcapLossOptions& options, bool with_grads) {
    auto chunks = run_chunks(h, weight, targets, options, with_grads);
    const auto n_valid = targets.ne(-1).sum().to(torch::kFloat32);
    if (with_grads) {
      ctx->save_for_backward({chunks.grad_h, chunks.grad_weight, n_valid});
      ctx->saved_data["h_dtype"] = static_cast<int64_t>(h.scalar_type());
    }
    return chunks.loss_per_row.sum() / n_valid;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto scale = grad_outputs[0] / saved[2];  // d(mean)/d(row loss) = 1 / valid rows
    const auto h_dtype = static_cast<torch::ScalarType>(ctx->saved_data["h_dtype"].toInt());
    return {(saved[0] * scale).to(h_dtype), saved[1] * scale, torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

torch::Tensor softcap_cross_entropy(const torch::Tensor& h, const torch::Tensor& weight,
                                    const torch::Tensor& targets,
                                    const SoftcapLossOptions& options) {
  check_inputs(h, weight, targets, options);
  const bool with_grads =
      torch::GradMode::is_enabled() && (h.requires_grad() || weight.requires_grad());
  return SoftcapCrossEntropyFunction::apply(h, weight, targets, options, with_grads);
}

torch::Tensor softcap_cross_entropy_per_row(const torch::Tensor& h, const torch::Tensor& weight,
                                            const torch::Tensor& targets,
                                            const SoftcapLossOptions& options) {
  check_inputs(h, weight, targets, options);
  torch::NoGradGuard no_grad;
  return run_chunks(h, weight, targets, options, /*with_grads=*/false).loss_per_row;
}

}  // namespace nt
