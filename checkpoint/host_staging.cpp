// The walk over the value (map_tensors) is the same with and without CUDA; only a CUDA tensor's
// copy needs the side stream, the event and the pinned buffer, compiled where LibTorch has CUDA.
#include "checkpoint/host_staging.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "checkpoint/flat_ivalue.h"

#ifdef NANOTRAIN_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace nt {

struct HostStaging::Impl {
  std::vector<at::Tensor> buffers;  // pinned, in the order stage() meets the CUDA tensors
  size_t next = 0;                  // the next buffer of the stage() under way
#ifdef NANOTRAIN_WITH_CUDA
  std::optional<c10::cuda::CUDAStream> side;  // created with the first CUDA tensor
  std::optional<at::cuda::CUDAEvent> done;    // recorded after a stage()'s last copy
#endif

  // `t`'s host buffer, its copy started on the side stream.
  at::Tensor copy_to_host(const at::Tensor& t) {
#ifdef NANOTRAIN_WITH_CUDA
    if (!side) {
      side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, t.device().index());
      // The side stream starts after everything the training stream has queued: the step that
      // made these values.
      at::cuda::CUDAEvent ready;
      ready.record(c10::cuda::getCurrentCUDAStream(t.device().index()));
      ready.block(*side);
    } else if (side->device_index() != t.device().index()) {
      throw std::invalid_argument(
          fmt::format("snapshot staging: tensors on cuda:{} and cuda:{}; one device per rank",
                      side->device_index(), t.device().index()));
    }
    if (next == buffers.size()) buffers.emplace_back();
    at::Tensor& buffer = buffers[next++];
    if (!buffer.defined() || buffer.sizes() != t.sizes() || buffer.dtype() != t.dtype())
      buffer = at::empty(t.sizes(), at::TensorOptions().dtype(t.dtype()).pinned_memory(true));
    const c10::cuda::CUDAStreamGuard guard(*side);
    buffer.copy_(t, /*non_blocking=*/true);
    // The caching allocator must not hand t's memory to the training stream before this copy.
    t.record_stream(*side);
    return buffer;
#else
    throw std::invalid_argument(
        fmt::format("snapshot staging: a tensor on {} in a build without CUDA", t.device().str()));
#endif
  }
};

HostStaging::HostStaging() : impl_(std::make_unique<Impl>()) {}

HostStaging::~HostStaging() {
  synchronize();
}

c10::IValue HostStaging::stage(const c10::IValue& value) {
  impl_->next = 0;
#ifdef NANOTRAIN_WITH_CUDA
  impl_->side.reset();  // a fresh wait on the training stream for every stage()
  impl_->done.reset();
#endif
  c10::IValue staged = map_tensors(value, [this](const at::Tensor& t) {
    return t.is_cuda() ? impl_->copy_to_host(t.detach()) : t;
  });
#ifdef NANOTRAIN_WITH_CUDA
  if (impl_->side) {
    impl_->done.emplace();
    impl_->done->record(*impl_->side);
  }
#endif
  return staged;
}

void HostStaging::synchronize() {
#ifdef NANOTRAIN_WITH_CUDA
  if (impl_->done) impl_->done->synchronize();
#endif
}

}  // namespace nt
