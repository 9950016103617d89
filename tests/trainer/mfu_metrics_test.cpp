// The run's figures: MfuMeter's MFU against its definition (the step's matmul FLOPs at the peak,
// as a share of the step's time on all ranks), and MetricsLog's files (metrics.jsonl continued
// across resumes, one event file per run in the TensorBoard folder, nothing on other ranks).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "optim/setup.h"
#include "tests/support/temp_dir.h"
#include "trainer/metrics.h"
#include "trainer/mfu.h"

namespace nt {
namespace {

namespace fs = std::filesystem;

TEST(MfuMeter, IsTheStepsMatmulFlopsAtThePeakOverTheStepsTimeOnAllRanks) {
  GPT model(GPTConfig::from_depth(2, 64, 512));
  Optimizers optimizers = setup_optimizers(model, OptimizerConfig{});
  const int64_t tokens = 4096, world = 2;
  const double peak = 2e11;
  const MfuMeter meter(model, *optimizers.muon, tokens, 1024, world, torch::kCPU, peak, "");
  // Newton-Schulz per step on an (r, c) matrix, m = min, n = max: X X^T, A A and B X.
  double ns_flops = 0;
  for (const auto& p : model->matrix_params()) {
    const double m = std::min(p.size(0), p.size(1)), n = std::max(p.size(0), p.size(1));
    ns_flops += 5 * (2 * m * m * n + 2 * m * m * m + 2 * m * m * n);
  }
  const double model_flops = static_cast<double>(model->estimate_flops()) * tokens;
  const double seconds = 0.25;
  EXPECT_DOUBLE_EQ(meter.mfu(seconds), 100 * (model_flops + ns_flops) / peak / (seconds * world));
  EXPECT_NE(meter.describe().find("200.0 GFLOP/s"), std::string::npos) << meter.describe();
  EXPECT_NE(meter.describe().find("--peak_flops"), std::string::npos) << meter.describe();
}

// A restarted attempt reads the peaks its predecessor measured on the node instead of measuring
// again; a damaged file is measured over.
TEST(MfuMeter, ReusesThePeaksAnEarlierAttemptMeasured) {
  testing::ScopedTempDir dir("mfu_cache");
  const std::string cache = dir.path() + "/measured.json.rank0";
  GPT model(GPTConfig::from_depth(1, 32, 256));
  Optimizers optimizers = setup_optimizers(model, OptimizerConfig{});
  auto meter = [&] {
    return MfuMeter(model, *optimizers.muon, 512, 128, 1, torch::kCPU, 0, cache);
  };
  const std::string first = meter().describe();
  EXPECT_NE(first.find("(per rank, measured)"), std::string::npos) << first;
  ASSERT_TRUE(fs::exists(cache));
  // The file's values are what a restart uses: plant 1 GFLOP/s under every key.
  std::ifstream in(cache);
  auto known = nlohmann::json::parse(in);
  ASSERT_EQ(known.size(), 2u) << known.dump();  // the model's and Newton-Schulz's shapes
  for (auto& item : known.items()) item.value() = 1e9;
  std::ofstream(cache) << known.dump();
  const std::string again = meter().describe();
  EXPECT_NE(again.find("float32 at 1.0 GFLOP/s, Muon "), std::string::npos) << again;
  EXPECT_NE(again.find(" at 1.0 GFLOP/s (per rank, measured by an earlier attempt on this node)"),
            std::string::npos)
      << again;
  std::ofstream(cache) << "{\"trun";
  EXPECT_NE(meter().describe().find("(per rank, measured)"), std::string::npos);
}

class MetricsLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/nanotrain_metrics_" + std::to_string(::getpid());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::vector<nlohmann::json> records() const {
    std::ifstream in(dir_ + "/metrics.jsonl");
    std::vector<nlohmann::json> out;
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }
  size_t event_files() const {
    if (!fs::exists(dir_ + "/tb")) return 0;
    return static_cast<size_t>(std::distance(fs::directory_iterator(dir_ + "/tb"), {}));
  }
  std::string dir_;
};

TEST_F(MetricsLogTest, AResumedRunContinuesTheFileAndOpensItsOwnEventFile) {
  {
    MetricsLog log(dir_, dir_ + "/tb", 0);
    log.append({{"step", 1}, {"loss", 6.5}});
    log.append({{"step", 2}, {"loss", 6.0}});
  }
  {
    MetricsLog log(dir_, dir_ + "/tb", 3);
    log.append({{"step", 3}, {"val_bpb", 2.5}});
  }
  const auto got = records();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].at("loss"), 6.5);
  EXPECT_EQ(got[2].at("val_bpb"), 2.5);
  EXPECT_EQ(event_files(), 2u);
}

TEST_F(MetricsLogTest, WithoutADirectoryNothingIsWritten) {
  MetricsLog log("", dir_ + "/tb", 0);
  log.append({{"step", 1}, {"loss", 6.5}});
  EXPECT_FALSE(fs::exists(dir_));
  MetricsLog no_events(dir_, "", 0);
  no_events.append({{"step", 1}, {"loss", 6.5}});
  EXPECT_EQ(records().size(), 1u);
  EXPECT_EQ(event_files(), 0u);
}

}  // namespace
}  // namespace nt
