// Device-to-host staging of a snapshot's tensors. On CUDA each device tensor is copied into a
// pinned host buffer (kept and reused while its shape and dtype stay the same) on a side stream
// that first waits for the work queued so far on the training stream: the training stream never
// waits for the copy, and the copy does not queue behind the next step's kernels. CPU tensors
// pass through as they are. Builds without CUDA only ever see the pass-through.
#pragma once

#include <ATen/core/ivalue.h>

#include <memory>

namespace nt {

class HostStaging {
 public:
  HostStaging();
  ~HostStaging();  // waits for copies in flight
  HostStaging(const HostStaging&) = delete;
  HostStaging& operator=(const HostStaging&) = delete;

  // Training thread, once the values are final (after the optimizer step): starts copying the
  // CUDA tensors of `value` (dicts, lists, tuples, scalars, strings, tensors) and returns it with
  // each of them replaced by its host buffer, which holds the values once synchronize() returns.
  // Precondition: the copies of the previous stage() are no longer read (their buffers are
  // reused). Throws std::invalid_argument for CUDA tensors on two devices.
  c10::IValue stage(const c10::IValue& value);
  // Any thread: blocks until the last stage()'s copies are done (at once when it had none).
  void synchronize();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nt
