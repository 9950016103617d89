// RNG states in checkpoint meta: restoring a saved state replays the same draws, and malformed
// states are refused with the key that is wrong.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "runtime/rng_state.h"
#include "tests/support/expect_error.h"

namespace nt {
namespace {

TEST(RngState, RestoringReplaysTheSameDraws) {
  torch::manual_seed(5);
  torch::rand({10});  // move away from the seeded state
  const nlohmann::json saved = nlohmann::json::parse(rng_state_to_json().dump());  // via text
  const auto expected = torch::rand({100});
  torch::rand({1000});
  torch::manual_seed(99);
  restore_rng_state(saved, "meta_000010.json");
  EXPECT_TRUE(torch::equal(torch::rand({100}), expected));
  EXPECT_EQ(saved.contains("cuda"), torch::cuda::is_available());
}

TEST(RngState, MalformedStatesAreRefused) {
  auto state = rng_state_to_json();
  const std::string hex = state["cpu"];
  testing::expect_error<std::runtime_error>(
      [&] { restore_rng_state(nlohmann::json::object(), "m.json"); },
      "m.json: rng_state: expected an object with \"cpu\"");
  testing::expect_error<std::runtime_error>(
      [&] {
        restore_rng_state({{"cpu", 42}}, "m.json");
      },
      "m.json: rng_state.cpu: expected a hex string, found number");
  testing::expect_error<std::runtime_error>(
      [&] {
        restore_rng_state({{"cpu", hex.substr(0, 100)}}, "m.json");
      },
      "m.json: rng_state.cpu: expected a");
  testing::expect_error<std::runtime_error>(
      [&] {
        restore_rng_state({{"cpu", "zz" + hex.substr(2)}}, "m.json");
      },
      "expected hex digits, found 'z'");
}

}  // namespace
}  // namespace nt
