// The LR multiplier and Muon momentum schedules, checked against values worked out by hand
// from nanochat's base_train formulas.
#include <gtest/gtest.h>

#include "optim/schedule.h"

namespace nt {
namespace {

TEST(LrSchedule, DefaultIsFlatThenLinearWarmdown) {
  const LrSchedule s{100, 0.0, 0.2, 0.0};  // warmdown over the last 20 iterations
  EXPECT_DOUBLE_EQ(s.multiplier(0), 1.0);
  EXPECT_DOUBLE_EQ(s.multiplier(80), 1.0);
  EXPECT_DOUBLE_EQ(s.multiplier(81), 19.0 / 20.0);
  EXPECT_DOUBLE_EQ(s.multiplier(90), 0.5);
  EXPECT_DOUBLE_EQ(s.multiplier(99), 1.0 / 20.0);
}

TEST(LrSchedule, WarmupAndFinalFraction) {
  const LrSchedule s{10, 0.3, 0.5, 0.1};  // 3 warmup, 5 warmdown
  EXPECT_DOUBLE_EQ(s.multiplier(0), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.multiplier(2), 1.0);
  EXPECT_DOUBLE_EQ(s.multiplier(5), 1.0);
  EXPECT_DOUBLE_EQ(s.multiplier(6), 0.8 + 0.2 * 0.1);
  EXPECT_DOUBLE_EQ(s.multiplier(9), 0.2 + 0.8 * 0.1);
}

TEST(LrSchedule, RoundsHalfToEvenLikePython) {
  // round(0.25 * 10) = round(2.5) = 2 and round(0.35 * 10) = round(3.5) = 4 in Python.
  const LrSchedule a{10, 0.25, 0.0, 0.0};
  EXPECT_DOUBLE_EQ(a.multiplier(0), 0.5);
  EXPECT_DOUBLE_EQ(a.multiplier(2), 1.0);
  const LrSchedule b{10, 0.0, 0.35, 0.0};
  EXPECT_DOUBLE_EQ(b.multiplier(6), 1.0);
  EXPECT_DOUBLE_EQ(b.multiplier(7), 3.0 / 4.0);
}

TEST(MuonMomentum, WarmsUpOver300Steps) {
  EXPECT_DOUBLE_EQ(muon_momentum(0), 0.85);
  EXPECT_NEAR(muon_momentum(150), 0.90, 1e-12);
  EXPECT_NEAR(muon_momentum(300), 0.95, 1e-12);
  EXPECT_NEAR(muon_momentum(5000), 0.95, 1e-12);
}

}  // namespace
}  // namespace nt
