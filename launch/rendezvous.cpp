// Generation agreement over c10d's TCPStore. compareSet makes "move to the next generation" and
// "close this generation with N nodes" happen once however many nodes race for them.
#include "launch/rendezvous.h"

#include <fmt/format.h>
#include <unistd.h>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <thread>

namespace nt {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<uint8_t> bytes(const std::string& s) {
  return {s.begin(), s.end()};
}

std::string text(const std::vector<uint8_t>& b) {
  return {b.begin(), b.end()};
}

// Whether `host` names this machine, so that its agent may host a c10d endpoint there.
bool is_local_host(const std::string& host, const std::string& local_addr) {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1" || host == name ||
         (!local_addr.empty() && host == local_addr);
}

class StoreRendezvous : public Rendezvous {
 public:
  explicit StoreRendezvous(const LaunchConfig& config) : config_(config) {
    const auto timeout =
        std::chrono::milliseconds(static_cast<int64_t>(config.rendezvous_timeout * 1000));
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(config.master_port);
    options.waitWorkers = false;
    options.timeout = timeout;
    const bool may_host = config.rdzv_backend == "static"
                              ? config.node_rank == 0
                              : is_local_host(config.master_addr, config.local_addr);
    if (may_host) {
      options.isServer = true;
      try {
        store_ = c10::make_intrusive<c10d::TCPStore>(config.master_addr, options);
        hosts_store_ = true;
      } catch (const std::exception& e) {
        // c10d: another agent on this host bound the endpoint first; join it.
        if (config.rdzv_backend == "static")
          throw std::runtime_error(fmt::format(
              "node 0: cannot host the store on port {}: {} (another job on that port? choose "
              "one with --master_port, or --standalone for a free one)",
              config.master_port, e.what()));
      }
    }
    if (!store_) {
      options.isServer = false;
      try {
        store_ = c10::make_intrusive<c10d::TCPStore>(config.master_addr, options);
      } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format(
            "node {}: cannot reach the rendezvous at {}:{} within {} s: {}", config.node_rank,
            config.master_addr, config.master_port, config.rendezvous_timeout, e.what()));
      }
    }
    prefix_ = "ntrun/" + config.run_id + "/";
    store_->compareSet(prefix_ + "generation", {}, bytes("0"));
  }

  Membership join(int generation) override {
    const std::string key = fmt::format("{}join/{}", prefix_, generation);
    const int64_t arrival = store_->add(key, 1);
    Membership m;
    m.master_addr = config_.master_addr;
    m.master_port = config_.master_port;
    if (config_.rdzv_backend == "static") {
      wait_until([&] { return store_->add(key, 0) >= config_.max_nodes; }, key,
                 "join generation " + std::to_string(generation));
      m.node_rank = config_.node_rank;
      m.nnodes = config_.max_nodes;
    } else {
      m.nnodes = close_elastic(generation, key);
      if (arrival > m.nnodes)
        throw std::runtime_error(fmt::format(
            "node arrived as number {} at generation {} of the rendezvous at {}:{}, which had "
            "closed with {} nodes (--nnodes {}:{})",
            arrival, generation, config_.master_addr, config_.master_port, m.nnodes,
            config_.min_nodes, config_.max_nodes));
      m.node_rank = static_cast<int>(arrival) - 1;
    }
    nnodes_ = m.nnodes;
    return m;
  }

  int current_generation() override { return std::stoi(text(store_->get(prefix_ + "generation"))); }

  int first_generation() override {
    const int generation = current_generation();
    const bool closed =
        config_.rdzv_backend == "static"
            ? store_->add(fmt::format("{}join/{}", prefix_, generation), 0) >= config_.max_nodes
            : store_->check({fmt::format("{}closed/{}", prefix_, generation)});
    if (!closed) return generation;
    fail(generation);
    return generation + 1;
  }

  std::string job_secret(const std::string& proposed) override {
    return text(store_->compareSet(prefix_ + "job_secret", {}, bytes(proposed)));
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
    return store_->add(key, 0) >= nnodes_;
  }

  void leave(int generation) override {
    const std::string key = fmt::format("{}leave/{}", prefix_, generation);
    store_->add(key, 1);
    if (hosts_store_) {
      try {
        wait_until([&] { return store_->add(key, 0) >= nnodes_; }, key, "leave");
      } catch (const std::runtime_error&) {
        // A node that vanished cannot keep the others from exiting.
      }
    }
  }

 private:
  // c10d: the generation closes at MAX nodes, or `last_call_timeout` after MIN arrived, at the
  // count then; the first agent to see either writes the count, every agent reads it.
  int close_elastic(int generation, const std::string& join_key) {
    const std::string closed_key = fmt::format("{}closed/{}", prefix_, generation);
    std::optional<Clock::time_point> min_reached;
    int closed = 0;
    wait_until(
        [&] {
          if (store_->check({closed_key})) {
            closed = std::stoi(text(store_->get(closed_key)));
            return true;
          }
          const int64_t count = store_->add(join_key, 0);
          if (count >= config_.min_nodes && !min_reached) min_reached = Clock::now();
          const bool last_call_over =
              min_reached && Clock::now() - *min_reached >=
                                 std::chrono::duration<double>(config_.last_call_timeout);
          if (count >= config_.max_nodes || last_call_over)
            store_->compareSet(closed_key, {},
                               bytes(std::to_string(std::min<int64_t>(count, config_.max_nodes))));
          return false;
        },
        join_key, "join generation " + std::to_string(generation));
    return closed;
  }

  template <class Done>
  void wait_until(Done done, const std::string& key, const std::string& what) {
    const auto deadline = Clock::now() + std::chrono::duration<double>(config_.rendezvous_timeout);
    while (!done()) {
      if (Clock::now() > deadline)
        throw std::runtime_error(fmt::format(
            "node {}: rendezvous timed out after {} s ({}): {} of {} nodes arrived at {}:{}",
            config_.node_rank, config_.rendezvous_timeout, what, store_->add(key, 0),
            config_.min_nodes == config_.max_nodes
                ? std::to_string(config_.max_nodes)
                : fmt::format("{}:{}", config_.min_nodes, config_.max_nodes),
            config_.master_addr, config_.master_port));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  const LaunchConfig& config_;
  c10::intrusive_ptr<c10d::TCPStore> store_;
  bool hosts_store_ = false;
  std::string prefix_;
  int nnodes_ = 1;  // the current generation's
  int finished_generation_ = -1;
};

}  // namespace

std::unique_ptr<Rendezvous> make_rendezvous(const LaunchConfig& config) {
  return std::make_unique<StoreRendezvous>(config);
}

}  // namespace nt
