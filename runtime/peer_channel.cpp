// PeerChannel over c10d's Gloo send and recv. A Gloo pair keeps its messages in order per tag,
// and a group of its own keeps them apart from the training group's: its collectives count
// their sequence numbers, and a send among them would shift every later one.
#include "runtime/peer_channel.h"

#include <fmt/format.h>
#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace nt {
namespace {

class GlooPeerChannel : public PeerChannel {
 public:
  GlooPeerChannel(c10::intrusive_ptr<c10d::ProcessGroupGloo> pg, int rank)
      : pg_(std::move(pg)), rank_(rank) {}

  void send(const void* data, size_t bytes, int to, int tag) override {
    // Gloo reads the tensor's memory; it never writes a send's.
    auto tensor = bytes_at(const_cast<void*>(data), bytes);
    std::vector<at::Tensor> tensors = {tensor};
    run([&] { return pg_->send(tensors, to, tag); }, "send to", to, bytes);
  }

  void recv(void* data, size_t bytes, int from, int tag) override {
    std::vector<at::Tensor> tensors = {bytes_at(data, bytes)};
    run([&] { return pg_->recv(tensors, from, tag); }, "recv from", from, bytes);
  }

  void abort() override {
    std::lock_guard<std::mutex> lock(mutex_);
    aborted_ = true;
    for (auto& work : in_flight_) work->abort();
  }

 private:
  static at::Tensor bytes_at(void* data, size_t bytes) {
    return at::from_blob(data, {static_cast<int64_t>(bytes)}, at::TensorOptions().dtype(at::kByte));
  }

  template <class Start>
  void run(Start start, const char* what, int peer, size_t bytes) {
    c10::intrusive_ptr<c10d::Work> work;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (aborted_)
        throw std::runtime_error(
            fmt::format("rank {}: {} rank {}: the channel was closed", rank_, what, peer));
      work = start();
      in_flight_.push_back(work);
    }
    std::string error;
    try {
      work->wait();
    } catch (const std::exception& e) {
      const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
      error = c10_error ? c10_error->what_without_backtrace() : e.what();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      in_flight_.erase(std::remove(in_flight_.begin(), in_flight_.end(), work), in_flight_.end());
      if (aborted_ && error.empty()) error = "the channel was closed";
    }
    if (!error.empty())
      throw std::runtime_error(
          fmt::format("rank {}: {} rank {} ({} bytes): {}", rank_, what, peer, bytes, error));
  }

  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
  int rank_;
  std::mutex mutex_;
  bool aborted_ = false;
  std::vector<c10::intrusive_ptr<c10d::Work>> in_flight_;
};

}  // namespace

std::unique_ptr<PeerChannel> open_gloo_peer_channel(const c10::intrusive_ptr<c10d::Store>& store,
                                                    const std::string& name,
                                                    const std::string& host, int rank,
                                                    int world_size,
                                                    std::chrono::milliseconds timeout) {
  try {
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>(name, store), rank, world_size, options);
    return std::make_unique<GlooPeerChannel>(std::move(pg), rank);
  } catch (const std::exception& e) {
    const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
    throw std::runtime_error(
        fmt::format("rank {}: the channel '{}' did not form: {}", rank, name,
                    c10_error ? c10_error->what_without_backtrace() : e.what()));
  }
}

}  // namespace nt
