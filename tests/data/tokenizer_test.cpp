// The prepared sentencepiece tokenizer: lossless round trips, nanochat's special tokens at fixed
// ids, byte lengths that add up to the text, and clear errors for bad ids and files.
#include <gtest/gtest.h>

#include <fstream>
#include <numeric>

#include "data/tokenizer.h"
#include "tests/support/expect_error.h"
#include "tests/support/prepared_data.h"

namespace nt {
namespace {

const Tokenizer& prepared() {
  static const Tokenizer tokenizer = Tokenizer::from_dir(testing::prepared_dir() + "/tokenizer");
  return tokenizer;
}

TEST(Tokenizer, RoundTripsAnyValidUtf8Text) {
  static const char kBinary[] = "nul \0 byte and control \x01\x7f characters";
  const std::vector<std::string> texts = {
      "In the beginning God created the heaven and the earth.\n",
      "  two leading spaces, trailing tab\t\n\nand blank lines",
      "Unicode: \xc3\xa9t\xc3\xa9, \xe2\x98\x83, \xf0\x9f\x98\x80 (bytes the corpus never had)",
      "digits 1234567890 and <html> markup & symbols {}[]|~",
      std::string(kBinary, sizeof(kBinary) - 1),
      ""};
  for (const auto& text : texts) {
    const auto ids = prepared().encode(text);
    EXPECT_EQ(prepared().decode(ids), text);
    // Every token stands for a whole number of the text's bytes.
    const auto bytes = prepared().token_bytes();
    int64_t total = 0;
    for (int64_t id : ids) total += bytes[id];
    EXPECT_EQ(total, static_cast<int64_t>(text.size())) << text;
  }
  // sentencepiece reads text as UTF-8: a malformed byte becomes U+FFFD (3 bytes), documented.
  EXPECT_EQ(prepared().decode(prepared().encode("a\xff b")), "a\xef\xbf\xbd b");
}

TEST(Tokenizer, SpecialTokensHaveNanochatNamesAndNoBytes) {
  const auto& tok = prepared();
  EXPECT_EQ(tok.vocab_size(), 1024);
  EXPECT_EQ(tok.bos_token_id(), tok.special_token_id("<|bos|>"));
  const auto bytes = tok.token_bytes();
  for (const auto& name : kSpecialTokens) {
    const int64_t id = tok.special_token_id(name);
    EXPECT_EQ(tok.decode({id}), name);
    EXPECT_EQ(bytes[id], 0) << name;
  }
  EXPECT_EQ(bytes[0], 0);  // <unk>
  testing::expect_error([&] { tok.special_token_id("<|eos|>"); }, "'<|eos|>' is not a special");
  testing::expect_error(
      [&] {
        tok.decode({1, 1024});
      },
      "token id 1024 is outside the vocabulary [0, 1024)");
  // Common words are single tokens; the KJV's vocabulary was learned.
  EXPECT_EQ(tok.encode(" the").size(), 1u);
  EXPECT_LT(tok.encode("And God said, Let there be light").size(), 12u);
}

TEST(Tokenizer, SerializedModelReloads) {
  const Tokenizer copy = Tokenizer::from_serialized(prepared().serialized(), "copy");
  const std::string text = "And the evening and the morning were the first day.";
  EXPECT_EQ(copy.encode(text), prepared().encode(text));
}

TEST(Tokenizer, TrainsOnLinesAndRejectsBadInput) {
  const std::vector<std::string> lines(200, "the quick brown fox jumps over the lazy dog");
  size_t next = 0;
  TokenizerTrainingOptions options;
  options.vocab_size = 300;
  const Tokenizer tok = Tokenizer::train(
      [&](std::string& line) {
        if (next == lines.size()) return false;
        line = lines[next++];
        return true;
      },
      options);
  EXPECT_LE(tok.vocab_size(), 300);
  EXPECT_EQ(tok.decode(tok.encode("lazy dog, quick fox")), "lazy dog, quick fox");
  options.vocab_size = 200;
  testing::expect_error([&] { Tokenizer::train([](std::string&) { return false; }, options); },
                        "vocab_size: expected more than the 266 byte, <unk> and special tokens");
  testing::expect_error<std::runtime_error>(
      [] { Tokenizer::from_dir("/nonexistent"); },
      "no tokenizer at '/nonexistent/tokenizer.model' (run `nanotrain prepare`");
  testing::expect_error<std::runtime_error>(
      [] { Tokenizer::from_serialized("not a model", "junk.model"); },
      "junk.model: not a sentencepiece model");
}

}  // namespace
}  // namespace nt
