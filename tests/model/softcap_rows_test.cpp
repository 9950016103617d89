// The row kernel's own exp and tanh against the C library's in double precision, over their
// whole input range and at the edges (overflow clamping, infinities, NaN), and its handling of a
// vocabulary that is not a multiple of its 8 lanes.
#include "model/softcap_rows.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace nt {
namespace {

constexpr double kUlpOfOne = 0x1p-24;  // half of fp32's epsilon: the ulp of values in [0.5, 1)

// Every fp32 value in [lo, hi] at a stride that visits a few hundred thousand of them.
std::vector<float> sweep(float lo, float hi) {
  std::vector<float> xs;
  const double step = (double{hi} - lo) / 300000;
  for (double x = lo; x <= hi; x += step) xs.push_back(static_cast<float>(x));
  xs.push_back(hi);
  return xs;
}

TEST(SoftcapRows, ExpIsWithinItsStatedRelativeError) {
  double worst = 0;
  for (float x : sweep(-87.0f, 88.0f)) {
    const double exact = std::exp(double{x});
    worst = std::max(worst, std::abs(softcap_exp(x) - exact) / exact);
  }
  EXPECT_LE(worst, kExpUlps * 2 * kUlpOfOne);
  EXPECT_GT(worst, 0.0);  // not the C library's own result
  EXPECT_EQ(softcap_exp(0.0f), 1.0f);
  EXPECT_EQ(softcap_exp(1000.0f), softcap_exp(88.0f));  // clamped: finite
  EXPECT_TRUE(std::isfinite(softcap_exp(88.0f)));
  EXPECT_EQ(softcap_exp(-1000.0f), softcap_exp(-87.0f));
  EXPECT_TRUE(std::isnan(softcap_exp(std::numeric_limits<float>::quiet_NaN())));
}

TEST(SoftcapRows, TanhIsWithinItsStatedError) {
  double worst_abs = 0, worst_rel_small = 0;
  for (float x : sweep(-20.0f, 20.0f)) {
    const double exact = std::tanh(double{x});
    const double err = std::abs(softcap_tanh(x) - exact);
    worst_abs = std::max(worst_abs, err);
    if (std::abs(x) < 0.625f && x != 0.0f)
      worst_rel_small = std::max(worst_rel_small, err / std::abs(exact));
  }
  EXPECT_LE(worst_abs, kTanhUlps * kUlpOfOne);
  EXPECT_LE(worst_rel_small, kTanhUlps * 2 * kUlpOfOne);
  EXPECT_EQ(softcap_tanh(0.0f), 0.0f);
  EXPECT_EQ(softcap_tanh(1e-30f), 1e-30f);  // no cancellation near 0
  EXPECT_EQ(softcap_tanh(-3.0f), -softcap_tanh(3.0f));
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(softcap_tanh(inf), 1.0f);
  EXPECT_EQ(softcap_tanh(-inf), -1.0f);
  EXPECT_TRUE(std::isnan(softcap_tanh(std::numeric_limits<float>::quiet_NaN())));
}

// One row of 13 logits (8 lanes and a tail of 5) against the softmax written out in double.
TEST(SoftcapRows, OneRowMatchesTheSoftmaxInDouble) {
  constexpr int64_t kVocab = 13;
  constexpr float kCap = 15.0f;
  std::vector<float> z(kVocab);
  for (int64_t j = 0; j < kVocab; ++j) z[j] = 7.0f * static_cast<float>(j) - 40.0f;
  const int64_t targets[2] = {11, -1};
  std::vector<float> logits2(2 * kVocab);
  std::copy(z.begin(), z.end(), logits2.begin());
  std::copy(z.begin(), z.end(), logits2.begin() + kVocab);
  std::vector<float> loss(2), grad(2 * kVocab, 99.0f);
  std::vector<float> scratch(softcap_scratch_floats(kVocab));
  SoftcapRowsJob job;
  job.logits = logits2.data();
  job.targets = targets;
  job.rows = 2;
  job.vocab = kVocab;
  job.softcap = kCap;
  job.loss = loss.data();
  job.grad = grad.data();
  softcap_rows(job, 0, 2, scratch.data());

  double sum = 0;
  std::vector<double> u(kVocab);
  for (int64_t j = 0; j < kVocab; ++j) {
    u[j] = std::tanh(double{z[j]} / kCap);
    sum += std::exp(kCap * u[j]);
  }
  const double expected_loss = std::log(sum) - kCap * u[11];
  // The logits' errors (kTanhUlps ulps of 1 times the cap) move the loss by as much, plus
  // kExpUlps in each exponential and the fp32 rounding of the loss itself.
  const double bound = (kCap * kTanhUlps + 2 * kExpUlps + 2) * kUlpOfOne * 2 * std::abs(kCap);
  EXPECT_NEAR(loss[0], expected_loss, bound);
  for (int64_t j = 0; j < kVocab; ++j) {
    const double p = std::exp(kCap * u[j]) / sum;
    const double expected = (p - (j == 11 ? 1.0 : 0.0)) * (1 - u[j] * u[j]);
    EXPECT_NEAR(grad[j], expected, bound) << j;
    EXPECT_EQ(grad[kVocab + j], 0.0f) << j;  // the ignored row
  }
  EXPECT_EQ(loss[1], 0.0f);
}

}  // namespace
}  // namespace nt
