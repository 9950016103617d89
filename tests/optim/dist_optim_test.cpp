// The sharded AdamW + Muon across 2 and 4 processes equal the single-process optimizers bit for
// bit, and gradients averaged during backward by the GradientReducer match those averaged inside
// the optimizers' step (see dist_optim_worker.cpp). 3 ranks are left out on purpose: the mean of
// three equal fp32 gradients is not always exactly that gradient.
#include <gtest/gtest.h>

#include "tests/support/process_runner.h"

namespace nt {
namespace {

class DistributedOptimizers : public ::testing::TestWithParam<int> {};

TEST_P(DistributedOptimizers, MatchSingleProcessExactly) {
  const int world_size = GetParam();
  const auto status = testing::run_world(NANOTRAIN_DIST_OPTIM_WORKER, world_size, 180);
  for (int rank = 0; rank < world_size; ++rank) EXPECT_EQ(status[rank], 0) << "rank " << rank;
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, DistributedOptimizers, ::testing::Values(2, 4));

}  // namespace
}  // namespace nt
