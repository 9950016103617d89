// Snapshot replicas between two "nodes" (two stores in two directories) over an in-memory
// PeerChannel: a finished buffer lands on the next node byte for byte; a damaged replica does
// not count; a buffer of another job is refused and the sender stops; a lost rank gets its
// buffer back from the replica; the end of the job removes the replicas.
#include "checkpoint/snapshot_replicas.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <thread>
#include <tuple>

#include "tests/support/file_size_limit.h"
#include "tests/support/temp_dir.h"

namespace nt {
namespace {

// Messages between ranks of one process, kept per (from, to, tag) in order, as a Gloo pair does.
class Wire {
 public:
  void send(int from, int to, int tag, const void* data, size_t bytes) {
    const char* p = static_cast<const char*>(data);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queues_[{from, to, tag}].emplace_back(p, p + bytes);
      ++sent_[{from, to, tag}];
    }
    changed_.notify_all();
  }
  void recv(int from, int to, int tag, void* data, size_t bytes, const bool& aborted) {
    std::unique_lock<std::mutex> lock(mutex_);
    auto& queue = queues_[{from, to, tag}];
    changed_.wait(lock, [&] { return aborted || !queue.empty(); });
    if (aborted) throw std::runtime_error("aborted");
    if (queue.front().size() != bytes) throw std::runtime_error("a message of another size");
    std::memcpy(data, queue.front().data(), bytes);
    queue.pop_front();
  }
  void wake() { changed_.notify_all(); }
  int sent(int from, int to, int tag) {
    std::lock_guard<std::mutex> lock(mutex_);
    return sent_[{from, to, tag}];
  }
  std::mutex mutex_;

 private:
  std::condition_variable changed_;
  std::map<std::tuple<int, int, int>, std::deque<std::vector<char>>> queues_;
  std::map<std::tuple<int, int, int>, int> sent_;
};

class WireChannel : public PeerChannel {
 public:
  WireChannel(Wire& wire, int rank) : wire_(wire), rank_(rank) {}
  void send(const void* data, size_t bytes, int to, int tag) override {
    wire_.send(rank_, to, tag, data, bytes);
  }
  void recv(void* data, size_t bytes, int from, int tag) override {
    wire_.recv(from, rank_, tag, data, bytes, aborted_);
  }
  void abort() override {
    {
      std::lock_guard<std::mutex> lock(wire_.mutex_);
      aborted_ = true;
    }
    wire_.wake();
  }

 private:
  Wire& wire_;
  int rank_;
  bool aborted_ = false;
};

c10::IValue payload_of(int64_t step) {
  c10::impl::GenericDict payload(c10::StringType::get(), c10::AnyType::get());
  payload.insert("meta", "{\"step\": " + std::to_string(step) + "}");
  payload.insert("weight", torch::arange(4096, torch::kFloat) * static_cast<float>(step));
  return payload;
}

std::string contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Two nodes of one rank each: rank 0 keeps rank 1's replica and rank 1 keeps rank 0's.
class SnapshotReplicasTest : public ::testing::Test {
 protected:
  SnapshotStore& store(int rank, uint64_t key = 7) {
    stores_[rank] = std::make_unique<SnapshotStore>(
        SnapshotOptions{dir_.path() + "/node" + std::to_string(rank), key, rank, 2});
    return *stores_[rank];
  }
  std::unique_ptr<SnapshotReplicas> replicas(int rank) {
    return std::make_unique<SnapshotReplicas>(*stores_[rank],
                                              std::make_unique<WireChannel>(wire_, rank), rank,
                                              /*local_world_size=*/1, /*world_size=*/2);
  }
  // Both ranks' replicas, started as on a first start.
  std::pair<std::unique_ptr<SnapshotReplicas>, std::unique_ptr<SnapshotReplicas>> started() {
    auto pair = std::make_pair(replicas(0), replicas(1));
    pair.first->start(-1);
    pair.second->start(-1);
    return pair;
  }
  static void copy(SnapshotStore& store, SnapshotReplicas& replicas, int64_t step) {
    replicas.release(store.next_buffer());
    store.begin(step, payload_of(step));
    store.wait();
    replicas.send_newest();
  }
  // Waits (bounded) until `replicas` keeps exactly `steps`.
  static bool keeps(const SnapshotReplicas& replicas, const std::vector<int64_t>& steps) {
    for (int i = 0; i < 500 && replicas.steps() != steps; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return replicas.steps() == steps;
  }
  static void finish_both(SnapshotReplicas& a, SnapshotReplicas& b) {
    std::thread other([&] { b.finish(); });
    a.finish();
    other.join();
  }

  testing::ScopedTempDir dir_{"replicas"};
  Wire wire_;
  std::unique_ptr<SnapshotStore> stores_[2];
};

TEST_F(SnapshotReplicasTest, AFinishedBufferLandsOnTheNextNodeByteForByte) {
  auto& store0 = store(0);
  auto& store1 = store(1);
  auto [replicas0, replicas1] = started();
  EXPECT_EQ(replicas0->target(), 1);
  EXPECT_EQ(replicas0->source(), 1);
  for (int64_t step : {1, 2, 3}) copy(store0, *replicas0, step);
  ASSERT_TRUE(keeps(*replicas1, {3, 2}));
  const std::string replica = store1.buffer_path(0, 0, SnapshotStore::Kind::kReplica);
  EXPECT_EQ(contents(replica), contents(store0.buffer_path(0, 0)));  // step 3, in buffer 0

  // A payload byte flipped: that replica no longer counts.
  {
    std::fstream file(replica, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(kSnapshotHeaderBytes + 100);
    file.put('\x5a');
  }
  EXPECT_EQ(replicas1->steps(), std::vector<int64_t>{2});

  finish_both(*replicas0, *replicas1);
  EXPECT_FALSE(std::filesystem::exists(store1.buffer_path(0, 1, SnapshotStore::Kind::kReplica)));
}

TEST_F(SnapshotReplicasTest, AnotherJobsBufferIsRefusedAndTheSenderStops) {
  auto& store0 = store(0, /*key=*/99);  // another job's rank 0
  store(1);
  auto [replicas0, replicas1] = started();
  copy(store0, *replicas0, 1);
  copy(store0, *replicas0, 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(replicas1->steps().empty());
  EXPECT_FALSE(
      std::filesystem::exists(stores_[1]->buffer_path(0, 0, SnapshotStore::Kind::kReplica)));
  finish_both(*replicas0, *replicas1);  // the stream still ends in step
  // Header records from rank 0 (tag 1): step 1's, refused, then only the end; no payload.
  EXPECT_EQ(wire_.sent(0, 1, 1), 2);
  EXPECT_EQ(wire_.sent(0, 1, 3), 0);
}

// The receiving node has no room (a file size limit stands in for a full tmpfs): the buffer is
// refused before any payload moves, nothing half-written stays, and the sender stops.
TEST_F(SnapshotReplicasTest, NoRoomForAReplicaRefusesItUpFront) {
  auto& store0 = store(0);
  store(1);
  auto [replicas0, replicas1] = started();
  store0.begin(1, payload_of(1));
  store0.wait();
  {
    const testing::ScopedFileSizeLimit limit(8192);  // the header fits, the payload does not
    replicas0->send_newest();
    replicas0->release(store0.newest_buffer());  // returns once the answer came
  }
  EXPECT_TRUE(replicas1->steps().empty());
  std::error_code ec;
  EXPECT_EQ(
      std::filesystem::file_size(stores_[1]->buffer_path(0, 0, SnapshotStore::Kind::kReplica), ec),
      0u);
  copy(store0, *replicas0, 2);
  finish_both(*replicas0, *replicas1);
  EXPECT_EQ(wire_.sent(0, 1, 3), 0);  // no payload chunk ever went
  EXPECT_EQ(wire_.sent(0, 1, 1), 2);  // step 1's header, then only the end
}

TEST_F(SnapshotReplicasTest, ALostRankGetsItsBufferBackFromTheReplica) {
  auto& store0 = store(0);
  store(1);
  {
    auto [replicas0, replicas1] = started();
    for (int64_t step : {4, 5}) copy(store0, *replicas0, step);
    ASSERT_TRUE(keeps(*replicas1, {5, 4}));
  }  // the job dies: no finish, the replicas stay
  // Node 0 comes back empty.
  std::filesystem::remove_all(store0.dir());
  auto& fresh0 = store(0);
  ASSERT_TRUE(fresh0.enabled()) << fresh0.disabled_reason();
  EXPECT_TRUE(fresh0.complete_steps(0).empty());
  auto replicas0 = replicas(0), replicas1 = replicas(1);
  std::thread keeper([&] { replicas1->restore_to(0, 4); });
  replicas0->restore_from(1, 4);
  keeper.join();
  EXPECT_EQ(fresh0.complete_steps(0), std::vector<int64_t>{4});
  const auto read = fresh0.read(4, 0).toGenericDict();
  EXPECT_TRUE(torch::equal(read.at("weight").toTensor(),
                           payload_of(4).toGenericDict().at("weight").toTensor()));
  // A step the replica does not hold: the keeper says so, naming it.
  try {
    replicas1->restore_to(0, 9);
    ADD_FAILURE() << "restore_to of a step no replica holds did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no complete replica of rank 0's step 9"),
              std::string::npos)
        << e.what();
  }
  // Resumed from step 4: step 5's replica (of the attempt that died) is dropped, 4 kept.
  replicas1->start(4);
  replicas0->start(4);
  EXPECT_EQ(replicas1->steps(), std::vector<int64_t>{4});
  finish_both(*replicas0, *replicas1);
}

}  // namespace
}  // namespace nt
