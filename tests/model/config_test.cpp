// GPTConfig sizing from depth, validation messages, and strict JSON reading.
#include <gtest/gtest.h>

#include "model/config.h"
#include "runtime/config_io.h"
#include "tests/support/expect_error.h"

namespace nt {
namespace {

using testing::expect_error;

TEST(GPTConfig, FromDepthFollowsNanochat) {
  struct Case {
    int64_t depth, n_embd, n_head;
  } cases[] = {{1, 64, 1}, {2, 128, 1}, {4, 256, 2}, {6, 384, 3}, {12, 768, 6}, {20, 1280, 10}};
  for (const auto& c : cases) {
    const auto config = GPTConfig::from_depth(c.depth, 2048, 65536);
    EXPECT_EQ(config.n_layer, c.depth);
    EXPECT_EQ(config.n_embd, c.n_embd);
    EXPECT_EQ(config.n_head, c.n_head);
    EXPECT_EQ(config.n_kv_head, c.n_head);
    EXPECT_EQ(config.sequence_len, 2048);
  }
}

TEST(GPTConfig, PadsVocabularyToMultipleOf64) {
  GPTConfig c;
  c.vocab_size = 50257;
  EXPECT_EQ(c.padded_vocab_size(), 50304);
  c.vocab_size = 64;
  EXPECT_EQ(c.padded_vocab_size(), 64);
}

TEST(GPTConfig, RejectsImpossibleShapes) {
  expect_error([] { GPTConfig::from_depth(0, 64, 100); },
               "depth: expected an integer in [1, 1024], found 0");
  expect_error([] { GPTConfig::from_depth(-3, 64, 100); }, "found -3");
  expect_error([] { GPTConfig::from_depth(int64_t{1} << 60, 64, 100); },
               "found 1152921504606846976");
  GPTConfig c;
  c.n_head = 5;
  expect_error([&] { c.validate(); }, "n_head (5) must divide n_embd (768)");
  c = GPTConfig();
  c.n_kv_head = 4;
  expect_error([&] { c.validate(); }, "n_kv_head (4) must divide n_head (6)");
  c = GPTConfig();
  c.vocab_size = 0;
  expect_error([&] { c.validate(); }, "vocab_size: expected a positive integer, found 0");
  c = GPTConfig();
  c.n_layer = int64_t{1} << 40;  // a damaged meta: refused before any size is computed
  expect_error([&] { c.validate(); }, "more than the 1e+13 this runtime accepts");
  c = GPTConfig();
  c.n_embd = c.n_head = int64_t{1} << 62;
  expect_error([&] { c.validate(); }, "more than the 1e+13 this runtime accepts");
  c = GPTConfig();
  c.sequence_len = int64_t{1} << 40;
  expect_error([&] { c.validate(); }, "sequence_len: expected at most 16777216");
}

TEST(GPTConfig, JsonUnknownKeyAndWrongTypeAreErrors) {
  GPTConfig c;
  config_from_json(c, nlohmann::json::parse(R"({"n_layer": 3, "n_embd": 192})"), "test.json");
  EXPECT_EQ(c.n_layer, 3);
  EXPECT_EQ(c.n_embd, 192);
  expect_error([&] { config_from_json(c, nlohmann::json::parse(R"({"n_layers": 3})"), "m.json"); },
               "m.json: unknown key 'n_layers'");
  expect_error([&] { config_from_json(c, nlohmann::json::parse(R"({"n_head": "6"})"), "m.json"); },
               "m.json: key 'n_head': expected an integer, found \"6\"");
  expect_error([&] { config_from_json(c, nlohmann::json::parse(R"([1, 2])"), "m.json"); },
               "m.json: expected a JSON object");
}

}  // namespace
}  // namespace nt
