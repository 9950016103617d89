// A Bernoulli draw per document: the expected validation size is the target whatever the order
// of lengths, and the cap stops an unlucky run of long documents from overshooting it.
#include "data/validation_split.h"

#include <algorithm>

namespace nt {

ValidationSplit::ValidationSplit(int64_t target_tokens, double estimated_tokens,
                                 int64_t num_documents, uint64_t seed)
    : target_tokens_(target_tokens),
      rate_(std::min(1.0, static_cast<double>(target_tokens) / estimated_tokens)),
      num_documents_(num_documents),
      rng_(seed) {}

bool ValidationSplit::take(int64_t index, int64_t tokens) {
  const double draw = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  const bool last_chance = index == num_documents_ - 1 && documents_ == 0;
  const bool take = index > 0 && (last_chance || (tokens_ < target_tokens_ && draw < rate_));
  if (take) {
    tokens_ += tokens;
    ++documents_;
  }
  return take;
}

}  // namespace nt
