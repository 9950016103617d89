// Snapshot buffers: what is written reads back; two buffers alternate; a copy killed before its
// header leaves the other buffer's snapshot; a damaged payload, another job's or another world
// size's snapshot never counts; a directory others can reach, or a full one, turns snapshots off
// instead of failing the run.
#include "checkpoint/snapshot.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/support/file_size_limit.h"
#include "tests/support/temp_dir.h"

namespace nt {
namespace {

c10::IValue payload_of(int64_t step) {
  c10::impl::GenericDict payload(c10::StringType::get(), c10::AnyType::get());
  payload.insert("meta", "{\"step\": " + std::to_string(step) + "}");
  payload.insert("weight", torch::full({64, 64}, static_cast<float>(step)));
  return payload;
}

class SnapshotTest : public ::testing::Test {
 protected:
  SnapshotOptions options(uint64_t key = 7, int world_size = 2) const {
    return SnapshotOptions{dir_.path() + "/snapshots", key, /*rank=*/1, world_size};
  }
  void write_steps(SnapshotStore& store, std::initializer_list<int64_t> steps) {
    for (int64_t step : steps) store.begin(step, payload_of(step));
    store.wait();
  }

  testing::ScopedTempDir dir_{"snapshot"};
};

TEST_F(SnapshotTest, WhatIsWrittenReadsBack) {
  SnapshotStore store(options());
  ASSERT_TRUE(store.enabled()) << store.disabled_reason();
  write_steps(store, {3});
  EXPECT_EQ(store.complete_steps(1), std::vector<int64_t>{3});
  const auto read = store.read(3, 1).toGenericDict();
  EXPECT_EQ(read.at("meta").toStringRef(), "{\"step\": 3}");
  EXPECT_TRUE(torch::equal(read.at("weight").toTensor(), torch::full({64, 64}, 3.0f)));
  EXPECT_GT(store.buffer_bytes(), 64u * 64 * 4);
  struct stat st {};
  ASSERT_EQ(::stat(store.dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((store.dir() + "/rank1.0").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THROW(store.read(2, 1), std::runtime_error);
}

TEST_F(SnapshotTest, TwoBuffersHoldTheTwoNewestSteps) {
  SnapshotStore store(options());
  write_steps(store, {1, 2, 3, 4, 5});
  EXPECT_EQ(store.complete_steps(1), (std::vector<int64_t>{5, 4}));
  // After resuming from 4, the buffer holding 5 is cleared and written next.
  store.keep_only(4);
  EXPECT_EQ(store.complete_steps(1), std::vector<int64_t>{4});
  write_steps(store, {5});
  EXPECT_EQ(store.complete_steps(1), (std::vector<int64_t>{5, 4}));
}

// The kill comes between the payload and the header, in the buffer that held step 2.
TEST_F(SnapshotTest, ACopyKilledBeforeItsHeaderLeavesTheOtherBuffer) {
  // The fast (fork) style: the child must write into this fixture's directory, which a
  // re-executed ("threadsafe") child would name after its own pid.
  {
    SnapshotStore store(options());
    write_steps(store, {2, 3});
  }
  EXPECT_EXIT(
      {
        ::setenv("NANOTRAIN_TEST_CRASH_AT", "snapshot_before_header", 1);
        SnapshotStore store(options());
        store.keep_only(3);  // as after a resume: the next copy goes into step 2's buffer
        write_steps(store, {4});
      },
      ::testing::KilledBySignal(SIGKILL), "");
  SnapshotStore store(options());
  EXPECT_EQ(store.complete_steps(1), std::vector<int64_t>{3});
}

TEST_F(SnapshotTest, ADamagedPayloadDoesNotCount) {
  SnapshotStore store(options());
  write_steps(store, {1, 2});
  {
    std::fstream file(store.dir() + "/rank1.1", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(4096 + 100);
    file.put('\x5a');
  }
  EXPECT_EQ(store.complete_steps(1), std::vector<int64_t>{1});
  EXPECT_THROW(store.read(2, 1), std::runtime_error);
}

TEST_F(SnapshotTest, AnotherJobsOrWorldSizesSnapshotIsNeverTaken) {
  {
    SnapshotStore store(options(/*key=*/7, /*world_size=*/2));
    write_steps(store, {1, 2});
  }
  EXPECT_TRUE(SnapshotStore(options(/*key=*/8, 2)).complete_steps(1).empty());
  EXPECT_TRUE(SnapshotStore(options(7, /*world_size=*/4)).complete_steps(1).empty());
  // A restart at another world size is told why its snapshots do not count.
  const std::string other = SnapshotStore(options(7, 4)).other_world_sizes(1);
  EXPECT_NE(other.find("holds step 2 of a world of 2 ranks, not 4"), std::string::npos) << other;
  EXPECT_EQ(SnapshotStore(options(7, 2)).other_world_sizes(1), "");
  EXPECT_EQ(SnapshotStore(options(8, 4)).other_world_sizes(1), "");  // another job's: not named
  EXPECT_TRUE(SnapshotStore(options(7, 2)).complete_steps(/*rank=*/0).empty());
  EXPECT_NE(snapshot_job_key("secret-a", "/ckpt"), snapshot_job_key("secret-b", "/ckpt"));
  EXPECT_NE(snapshot_job_key("secret-a", "/ckpt/d4"), snapshot_job_key("secret-a", "/ckpt/d6"));
  EXPECT_NE(snapshot_dir("/dev/shm", "/ckpt/d4"), snapshot_dir("/dev/shm", "/ckpt/d6"));
}

TEST_F(SnapshotTest, ADirectoryOthersCanReachTurnsSnapshotsOff) {
  const std::string shared = dir_.path() + "/shared";
  ASSERT_EQ(::mkdir(shared.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(shared.c_str(), 0755), 0);
  SnapshotStore open_to_others(SnapshotOptions{shared, 1, 0, 1});
  EXPECT_FALSE(open_to_others.enabled());
  EXPECT_NE(open_to_others.disabled_reason().find("has mode 755"), std::string::npos)
      << open_to_others.disabled_reason();
  // A copy on a disabled store does nothing: training goes on with the disk alone.
  open_to_others.begin(1, payload_of(1));
  open_to_others.wait();
  EXPECT_FALSE(std::filesystem::exists(shared + "/rank0.0"));

  const std::string link = dir_.path() + "/link";
  ASSERT_EQ(::symlink(shared.c_str(), link.c_str()), 0);
  SnapshotStore through_link(SnapshotOptions{link, 1, 0, 1});
  EXPECT_NE(through_link.disabled_reason().find("is not a directory"), std::string::npos)
      << through_link.disabled_reason();

  SnapshotStore missing_root(SnapshotOptions{dir_.path() + "/no/such", 1, 0, 1});
  EXPECT_NE(missing_root.disabled_reason().find("cannot create"), std::string::npos);
}

// A tmpfs that fills up fails the write: the store turns off and gives its pages back.
TEST_F(SnapshotTest, AFailedCopyTurnsSnapshotsOffAndRemovesTheBuffers) {
  SnapshotStore store(options());
  write_steps(store, {1});
  {
    const testing::ScopedFileSizeLimit limit(8192);  // the header fits, the payload does not
    store.begin(2, payload_of(2));
    store.wait();
  }
  EXPECT_FALSE(store.enabled());
  EXPECT_NE(store.disabled_reason().find("cannot write"), std::string::npos)
      << store.disabled_reason();
  EXPECT_FALSE(std::filesystem::exists(store.dir() + "/rank1.0"));
  EXPECT_FALSE(std::filesystem::exists(store.dir() + "/rank1.1"));
}

TEST_F(SnapshotTest, FinishRemovesTheBuffersAndTheEmptiedDirectory) {
  SnapshotStore store(options());
  write_steps(store, {1, 2});
  store.finish();
  EXPECT_FALSE(std::filesystem::exists(store.dir()));
}

}  // namespace
}  // namespace nt
