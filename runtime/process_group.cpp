// Collectives over c10d: a TCPStore (hosted by rank 0, or by the launcher's agent) and a Gloo
// process group (NCCL where the LibTorch has it and CUDA is used). Debian's Gloo (1.13) lacks
// reduce_scatter, _allgather_base and bf16 all_reduce, so there they are built from what it
// has: alltoall_base plus a local sum moves the same bytes as a reduce_scatter; bf16 is reduced
// in fp32. LibTorch 2.x's are native.
#include <fmt/format.h>
#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstring>
#include <future>
#include <stdexcept>
#include <thread>

#include "runtime/collectives.h"
#include "runtime/net.h"
#include "runtime/preemption.h"
#include "runtime/torch_compat.h"

#ifdef NANOTRAIN_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace nt {
namespace {

class C10dCollectives : public Collectives {
 public:
  C10dCollectives(c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<C10dBackend> pg,
                  int rank, int world_size, at::Device device, std::string host,
                  std::chrono::milliseconds diagnosis_time, bool rank0_hosts_store)
      : store_(std::move(store)),
        pg_(std::move(pg)),
        rank_(rank),
        world_size_(world_size),
        device_(device),
        host_(std::move(host)),
        diagnosis_time_(diagnosis_time),
        rank0_hosts_store_(rank0_hosts_store) {}

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }

  void all_reduce_sum(at::Tensor& tensor) override {
    // Flags and sums often live on the CPU; NCCL only reduces CUDA tensors.
    const bool native_bf16 = kGlooHasFlatCollectives && tensor.scalar_type() == at::kBFloat16;
    auto work_tensor = tensor.to(device_, native_bf16 ? at::kBFloat16 : at::kFloat);
    std::vector<at::Tensor> tensors = {work_tensor};
    wait(pg_->allreduce(tensors), "all_reduce");
    if (!work_tensor.is_same(tensor)) tensor.copy_(work_tensor);
  }

  void all_reduce_mean(at::Tensor& tensor) override {
    all_reduce_sum(tensor);
    tensor.div_(world_size_);
  }

  std::unique_ptr<PendingCollective> start_all_reduce_mean(at::Tensor& tensor) override {
    if (tensor.scalar_type() != at::kFloat || !tensor.is_contiguous() || tensor.device() != device_)
      throw std::invalid_argument(fmt::format(
          "start_all_reduce_mean: expected a contiguous fp32 tensor on {}, found {} on {}",
          device_.str(), c10::toString(tensor.scalar_type()), tensor.device().str()));
    std::vector<at::Tensor> tensors = {tensor};
    return std::make_unique<PendingAllReduce>(*this, pg_->allreduce(tensors), tensor);
  }

  at::Tensor reduce_scatter_mean(const at::Tensor& input) override {
    const int64_t numel = input.numel(), shard = shard_size(numel);
    auto padded = at::zeros({shard * world_size_}, input.options().dtype(at::kFloat));
    padded.narrow(0, 0, numel).copy_(input.reshape({-1}));
    at::Tensor mine;
    if (kGlooHasFlatCollectives) {
      mine = at::empty({shard}, padded.options());
      c10d::ReduceScatterOptions options;
      options.reduceOp = c10d::ReduceOp::SUM;
      wait(pg_->_reduce_scatter_base(mine, padded, options), "reduce_scatter");
    } else {
      auto received = at::empty_like(padded);
      std::vector<int64_t> equal_splits;
      wait(pg_->alltoall_base(received, padded, equal_splits, equal_splits), "reduce_scatter");
      mine = received.view({world_size_, shard}).sum(0);
    }
    mine.div_(world_size_);
    const auto [begin, end] = shard_range(numel, rank_);
    return mine.narrow(0, 0, end - begin).to(input.scalar_type());
  }

  at::Tensor all_gather(const at::Tensor& shard, int64_t numel) override {
    const int64_t size = shard_size(numel);
    auto padded = at::zeros({size}, shard.options());
    padded.narrow(0, 0, shard.numel()).copy_(shard.reshape({-1}));
    auto input = as_bytes(padded);
    at::Tensor gathered;
    if (kGlooHasFlatCollectives) {
      gathered = at::empty({input.numel() * world_size_}, input.options());
      wait(pg_->_allgather_base(gathered, input), "all_gather");
    } else {
      std::vector<at::Tensor> inputs = {input};
      std::vector<std::vector<at::Tensor>> outputs(1);
      for (int r = 0; r < world_size_; ++r) outputs[0].push_back(at::empty_like(input));
      wait(pg_->allgather(outputs, inputs), "all_gather");
      gathered = at::cat(outputs[0]);
    }
    return gathered.view(shard.scalar_type()).narrow(0, 0, numel);
  }

  void broadcast(at::Tensor& tensor, int root) override {
    auto bytes = as_bytes(tensor.to(device_).contiguous());
    std::vector<at::Tensor> tensors = {bytes};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    wait(pg_->broadcast(tensors, options), "broadcast");
    tensor.copy_(bytes.view(tensor.scalar_type()).view(tensor.sizes()));
  }

  void barrier() override { wait(pg_->barrier(), "barrier"); }

  std::unique_ptr<PeerChannel> open_peer_channel(const std::string& name,
                                                 std::chrono::milliseconds timeout) override {
    return open_gloo_peer_channel(store_, name, host_, rank_, world_size_, timeout);
  }

 private:
  class PendingAllReduce : public PendingCollective {
   public:
    PendingAllReduce(C10dCollectives& owner, c10::intrusive_ptr<c10d::Work> work, at::Tensor tensor)
        : owner_(owner), work_(std::move(work)), tensor_(std::move(tensor)) {}
    void wait() override {
      owner_.wait(work_, "all_reduce");
      tensor_.div_(owner_.world_size_);
    }

   private:
    C10dCollectives& owner_;
    c10::intrusive_ptr<c10d::Work> work_;
    at::Tensor tensor_;
  };

  // Data movement is dtype-agnostic: send raw bytes, which Gloo accepts for every dtype.
  static at::Tensor as_bytes(const at::Tensor& t) { return t.reshape({-1}).view(at::kByte); }

  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* op) {
    ++sequence_;
    try {
      work->wait();
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("rank {}: {} #{} failed: {}; {}", rank_, op, sequence_,
                                           e.what(), missing_ranks()));
    }
  }

  static constexpr const char* kEveryRankArrived = "every rank reached it";

  // Which ranks never reached a failed collective. A rank that waits on a stuck peer fails too,
  // at about the same time, and marks itself in the store under the collective's sequence
  // number (the same on every rank); a stuck or dead rank never does. Each rank polls one
  // counter, so the store sees one request per rank per poll. Runs on a detached thread because
  // the store may live in rank 0, which may be the stuck one: then the thread stays blocked until
  // the process exits, which it is about to do. A stop signal (ntrun sends SIGTERM to the rest
  // of the group once one worker has died) ends the wait at once: the launcher already knows
  // the root cause, and every second waited here delays the restart.
  std::string missing_ranks() {
    auto result = std::make_shared<std::promise<std::string>>();
    auto future = result->get_future();
    const std::string owner = rank0_hosts_store_ ? "rank 0" : "the launcher's agent";
    std::thread([store = store_, result, rank = rank_, world_size = world_size_, owner,
                 prefix = fmt::format("nt/collective_failed/{}/", sequence_),
                 wait_for = diagnosis_time_] {
      try {
        store->set(prefix + std::to_string(rank), std::vector<uint8_t>{1});
        store->add(prefix + "count", 1);
        const auto deadline = std::chrono::steady_clock::now() + wait_for;
        while (store->add(prefix + "count", 0) < world_size &&
               std::chrono::steady_clock::now() < deadline && preemption_signal() == 0)
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::vector<int> missing;
        for (int r = 0; r < world_size; ++r)
          if (!store->check({prefix + std::to_string(r)})) missing.push_back(r);
        const char* ranks = missing.size() == 1 ? "rank" : "ranks";
        if (missing.empty())
          result->set_value(kEveryRankArrived);
        else if (const int sig = preemption_signal())
          result->set_value(fmt::format("{} {} had not reached it when SIG{} ended the wait", ranks,
                                        fmt::join(missing, ", "), sigabbrev_np(sig)));
        else
          result->set_value(fmt::format(
              "{} {} did not reach it within the timeout (stuck, dead or busy elsewhere)", ranks,
              fmt::join(missing, ", ")));
      } catch (const std::exception& e) {
        result->set_value(fmt::format("the store on {} failed ({}): {} may be stuck or dead", owner,
                                      e.what(), owner));
      }
    }).detach();
    const auto deadline =
        std::chrono::steady_clock::now() + diagnosis_time_ + std::chrono::milliseconds(500);
    while (future.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
      if (std::chrono::steady_clock::now() >= deadline)
        return fmt::format("the store on {} did not answer: {} is stuck or dead", owner, owner);
      if (const int sig = preemption_signal())
        return fmt::format("SIG{} ended the wait for the store on {}", sigabbrev_np(sig), owner);
    }
    std::string verdict = future.get();
    // A rank 0 that hosts the store exits soon after this error: when some rank is missing, it
    // serves one more window so that a rank whose wait started later (it reached the collective
    // later) still reads the marks rather than a closed store.
    if (rank0_hosts_store_ && rank_ == 0 && verdict != kEveryRankArrived &&
        preemption_signal() == 0)
      std::this_thread::sleep_for(diagnosis_time_);
    return verdict;
  }

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<C10dBackend> pg_;
  int rank_, world_size_;
  at::Device
      device_;        // where the backend's tensors must be: CPU for Gloo, this rank's GPU for NCCL
  std::string host_;  // this rank's address towards the others (Gloo's devices bind it)
  std::chrono::milliseconds diagnosis_time_;
  bool rank0_hosts_store_;  // else the launcher's agent hosts it
  int64_t sequence_ = 0;    // collectives issued so far; the same on every rank
};

// c10d's errors carry a stack dump in what(): messages keep the first line's text.
std::string without_backtrace(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  return c10_error ? c10_error->what_without_backtrace() : e.what();
}

// A launcher's agent store that does not answer one query within a few seconds, before Gloo
// waits the whole timeout on it: on this LibTorch that is a torchrun of PyTorch 2.x, whose store
// closes the connection of a client without its handshake (see kStoreClientValidates).
void probe_agent_store(c10d::Store& store, const DistEnv& env, std::chrono::milliseconds timeout) {
  const auto saved = store.getTimeout();
  store.setTimeout(std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(5)));
  try {
    // A set and a get, as Gloo's rendezvous starts: 2.x's server reads 1.13's SET as its
    // handshake and closes the connection, or 1.13's GET as another query and waits for more.
    const std::string key = fmt::format("nanotrain/probe/{}", env.rank);
    store.set(key, std::vector<uint8_t>{1});
    store.get(key);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format(
        "rank {}: the launcher's store at {}:{} did not answer ({}): a torchrun of PyTorch 2.x "
        "hosts a store whose protocol this build's LibTorch {} does not speak; launch with ntrun "
        "(build/bin/ntrun takes torchrun's flags), or use the build against the pip LibTorch "
        "(scripts/build_torch2.sh)",
        env.rank, env.master_addr, env.master_port, without_backtrace(e), TORCH_VERSION));
  }
  store.setTimeout(saved);
}

}  // namespace

bool on_any_rank(bool mine, Collectives* collectives) {
  auto flag = torch::full({1}, mine ? 1.0f : 0.0f);
  if (collectives) collectives->all_reduce_sum(flag);
  return flag.item<float>() > 0;
}

std::pair<int64_t, int64_t> Collectives::shard_range(int64_t numel, int r) const {
  const int64_t size = shard_size(numel);
  const int64_t begin = std::min(numel, size * r);
  return {begin, std::min(numel, begin + size)};
}

std::unique_ptr<Collectives> init_process_group(const DistEnv& env,
                                                const ProcessGroupOptions& options) {
  if (!env.distributed()) return nullptr;
#ifdef NANOTRAIN_WITH_NCCL
  const bool nccl = options.backend == "nccl";
  const char* expected = "gloo or nccl";
#else
  const bool nccl = false;
  const char* expected = "gloo (nccl needs a LibTorch built with CUDA)";
#endif
  if (options.backend != "gloo" && !nccl)
    throw std::invalid_argument(
        fmt::format("process group backend: expected {}, found '{}'", expected, options.backend));
  c10::intrusive_ptr<c10d::Store> store;
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(env.master_port);
    store_options.isServer = env.rank == 0 && !env.agent_store;
    store_options.numWorkers = env.world_size;
    store_options.waitWorkers = false;
    store_options.timeout = options.timeout;
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, store_options);
  } catch (const std::exception& e) {
    throw std::runtime_error(
        fmt::format("rank {}: cannot reach the master store at {}:{} within "
                    "{} s: {}",
                    env.rank, env.master_addr, env.master_port, options.timeout.count() / 1000,
                    without_backtrace(e)));
  }
  if (env.agent_store && !kStoreClientValidates) probe_agent_store(*store, env, options.timeout);
  // The agent's store outlives an attempt: each attempt keeps to its own keys.
  if (env.agent_store)
    store = c10::make_intrusive<c10d::PrefixStore>(
        fmt::format("/worker/attempt_{}", env.restart_count), store);
  // The collective waits `wait_time`; the rest of the timeout goes to naming the missing ranks.
  const auto diagnosis_time =
      std::min<std::chrono::milliseconds>(options.timeout / 5, std::chrono::seconds(5));
  const auto wait_time = options.timeout - diagnosis_time;
  const std::string host = local_address_towards(env.master_addr, env.master_port);
  c10::intrusive_ptr<C10dBackend> pg;
  try {
#ifdef NANOTRAIN_WITH_NCCL
    if (nccl) {
      c10::cuda::set_device(static_cast<c10::DeviceIndex>(env.local_rank));
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = wait_time;
      pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size,
                                                       nccl_options);
    }
#endif
    if (!nccl) {
      auto gloo_options = c10d::ProcessGroupGloo::Options::create(wait_time);
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
      pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size,
                                                       gloo_options);
    }
  } catch (const std::exception& e) {
    throw std::runtime_error(
        fmt::format("rank {}: process group did not form: {}", env.rank, without_backtrace(e)));
  }
  const at::Device device =
      nccl ? at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank)) : at::kCPU;
  return std::make_unique<C10dCollectives>(store, pg, env.rank, env.world_size, device, host,
                                           diagnosis_time, !env.agent_store);
}

}  // namespace nt
