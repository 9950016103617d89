// The validation split of `nanotrain prepare`: about the target in tokens, spread over the
// corpus, reproducible from the seed, and never leaving either side empty.
#include <gtest/gtest.h>

#include <vector>

#include "data/validation_split.h"

namespace nt {
namespace {

// The indices a split takes from `n` documents of `tokens` tokens each.
std::vector<int64_t> taken(int64_t target, int64_t n, int64_t tokens, uint64_t seed) {
  ValidationSplit split(target, static_cast<double>(n * tokens), n, seed);
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i)
    if (split.take(i, tokens)) out.push_back(i);
  return out;
}

TEST(ValidationSplit, TakesAboutTheTargetSpreadOverTheCorpus) {
  // 10,000 documents of 100 tokens, 5% wanted: 500 documents expected, sd ~22.
  const auto docs = taken(50000, 10000, 100, 42);
  EXPECT_GT(docs.size(), 400u);
  EXPECT_LE(docs.size(), 500u);   // the cap: never past the target
  EXPECT_LT(docs.front(), 1000);  // drawn across the corpus, not its tail
  EXPECT_GT(docs.back(), 9000);
  EXPECT_NE(docs.front(), 0);  // the first document always trains
}

TEST(ValidationSplit, TheSeedDecides) {
  EXPECT_EQ(taken(50000, 10000, 100, 7), taken(50000, 10000, 100, 7));
  EXPECT_NE(taken(50000, 10000, 100, 7), taken(50000, 10000, 100, 8));
}

TEST(ValidationSplit, BothSidesAreNeverEmpty) {
  // A target far below one document: the draw may take none, so the last one validates.
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const auto docs = taken(1, 3, 1000, seed);
    ASSERT_FALSE(docs.empty()) << "seed " << seed;
    EXPECT_NE(docs.front(), 0);
  }
  // A target beyond the corpus: everything but the first document.
  EXPECT_EQ(taken(1000000, 4, 10, 1), (std::vector<int64_t>{1, 2, 3}));
}

}  // namespace
}  // namespace nt
