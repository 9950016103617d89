// Generation agreement over c10d's TCPStore. compareSet makes "move to the next generation"
// happen once however many nodes fail at the same moment.
#include "launch/rendezvous.h"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <stdexcept>
#include <thread>

namespace nt {
namespace {

class LocalRendezvous : public Rendezvous {
 public:
  void join(int generation) override { generation_ = generation; }
  int current_generation() override { return generation_; }
  void fail(int generation) override { generation_ = std::max(generation_, generation + 1); }
  bool finish(int) override { return true; }
  void leave(int) override {}

 private:
  int generation_ = 0;
};

std::vector<uint8_t> bytes(const std::string& s) {
  return {s.begin(), s.end()};
}

class StoreRendezvous : public Rendezvous {
 public:
  explicit StoreRendezvous(const LaunchConfig& config) : config_(config) {
    const auto timeout =
        std::chrono::milliseconds(static_cast<int64_t>(config.rendezvous_timeout * 1000));
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(config.master_port + 1);
    options.isServer = config.node_rank == 0;
    options.numWorkers = config.nnodes;
    options.waitWorkers = false;
    options.timeout = timeout;
    try {
      store_ = c10::make_intrusive<c10d::TCPStore>(config.master_addr, options);
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format(
          "node {}: cannot reach the rendezvous at {}:{} within {} s: {}", config.node_rank,
          config.master_addr, config.master_port + 1, config.rendezvous_timeout, e.what()));
    }
    prefix_ = "ntrun/" + config.run_id + "/";
    store_->compareSet(prefix_ + "generation", {}, bytes("0"));
  }

  void join(int generation) override {
    const std::string key = fmt::format("{}join/{}", prefix_, generation);
    store_->add(key, 1);
    wait_for_count(key, "join generation " + std::to_string(generation));
  }

  int current_generation() override {
    const auto value = store_->get(prefix_ + "generation");
    return std::stoi(std::string(value.begin(), value.end()));
  }

  void fail(int generation) override {
    store_->compareSet(prefix_ + "generation", bytes(std::to_string(generation)),
                       bytes(std::to_string(generation + 1)));
  }

  bool finish(int generation) override {
    const std::string key = fmt::format("{}done/{}", prefix_, generation);
    if (finished_generation_ != generation) {
      store_->add(key, 1);
      finished_generation_ = generation;
    }
    return store_->add(key, 0) >= config_.nnodes;
  }

  void leave(int generation) override {
    const std::string key = fmt::format("{}leave/{}", prefix_, generation);
    store_->add(key, 1);
    if (config_.node_rank == 0) {
      try {
        wait_for_count(key, "leave");
      } catch (const std::runtime_error&) {
        // A node that vanished cannot keep the others from exiting.
      }
    }
  }

 private:
  void wait_for_count(const std::string& key, const std::string& what) {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration<double>(config_.rendezvous_timeout);
    int64_t count = 0;
    while ((count = store_->add(key, 0)) < config_.nnodes) {
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error(fmt::format(
            "node {}: rendezvous timed out after {} s ({}): {} of {} nodes arrived at {}:{}",
            config_.node_rank, config_.rendezvous_timeout, what, count, config_.nnodes,
            config_.master_addr, config_.master_port + 1));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  const LaunchConfig& config_;
  c10::intrusive_ptr<c10d::TCPStore> store_;
  std::string prefix_;
  int finished_generation_ = -1;
};

}  // namespace

std::unique_ptr<Rendezvous> make_rendezvous(const LaunchConfig& config) {
  if (config.nnodes == 1) return std::make_unique<LocalRendezvous>();
  return std::make_unique<StoreRendezvous>(config);
}

}  // namespace nt
