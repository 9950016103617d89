// Flag splitting and config reading: nanochat's and torchrun's spellings, and the errors a user
// sees for a typo or a bad value.
#include <gtest/gtest.h>

#include "runtime/config_io.h"
#include "tests/support/expect_error.h"

namespace nt {
namespace {

using testing::expect_error;

struct Sample {
  int64_t depth = 4;
  double lr = 0.02;
  bool async_save = false;
  std::string run = "dummy";
  int small = 1;

  template <class V>
  void visit(V&& v) {
    v("depth", depth, "the depth");
    v("lr", lr, "the lr");
    v("async_save", async_save, "the async_save");
    v("run", run, "the run");
    v("small", small, "the small");
  }
};

TEST(ParseFlags, AcceptsBothSpellingsAndBareBooleans) {
  const auto flags = parse_flags({"--depth=6", "--max-seq-len", "512", "--async_save",
                                  "--resume_from_step", "-1", "--run=a=b"});
  ASSERT_EQ(flags.size(), 5u);
  EXPECT_EQ(flags[0].name, "depth");
  EXPECT_EQ(flags[0].value, "6");
  EXPECT_EQ(flags[1].name, "max_seq_len");
  EXPECT_EQ(flags[1].value, "512");
  EXPECT_EQ(flags[2].name, "async_save");
  EXPECT_EQ(flags[2].value, "true");
  EXPECT_EQ(flags[3].value, "-1");
  EXPECT_EQ(flags[4].value, "a=b");
}

TEST(ParseFlags, RejectsPositionalArguments) {
  expect_error([] { parse_flags({"train"}); }, "expected a flag such as --depth=4, found 'train'");
  expect_error([] { parse_flags({"-d"}); }, "found '-d'");
}

TEST(ConfigFromFlags, ParsesEachType) {
  Sample s;
  config_from_flags(s, parse_flags({"--depth=12", "--lr", "1e-3", "--async-save", "--run=x"}));
  EXPECT_EQ(s.depth, 12);
  EXPECT_DOUBLE_EQ(s.lr, 1e-3);
  EXPECT_TRUE(s.async_save);
  EXPECT_EQ(s.run, "x");
}

TEST(ConfigFromFlags, ErrorsNameTheFlag) {
  Sample s;
  expect_error([&] { config_from_flags(s, parse_flags({"--dpeth=3"})); }, "unknown flag --dpeth");
  expect_error([&] { config_from_flags(s, parse_flags({"--depth=3x"})); },
               "flag --depth: expected an integer, found '3x'");
  expect_error([&] { config_from_flags(s, parse_flags({"--lr=fast"})); },
               "flag --lr: expected a number, found 'fast'");
  expect_error([&] { config_from_flags(s, parse_flags({"--async_save=maybe"})); },
               "flag --async_save: expected a boolean, found 'maybe'");
  expect_error([&] { config_from_flags(s, parse_flags({"--small=99999999999"})); },
               "flag --small: expected an integer, found '99999999999'");
}

TEST(ConfigJson, RoundTripsAndRejectsUnknownKeys) {
  Sample s;
  s.depth = 7;
  s.run = "r";
  const auto j = config_to_json(s);
  EXPECT_EQ(j.dump(), R"({"depth":7,"lr":0.02,"async_save":false,"run":"r","small":1})");
  Sample t;
  config_from_json(t, nlohmann::json::parse(j.dump()), "x.json");
  EXPECT_EQ(t.depth, 7);
  EXPECT_EQ(t.run, "r");
  expect_error([&] { config_from_json(t, nlohmann::json::parse(R"({"lr": true})"), "x.json"); },
               "x.json: key 'lr': expected a number, found true");
  expect_error([&] { config_from_json(t, nlohmann::json::parse(R"({"small": 1e20})"), "x.json"); },
               "x.json: key 'small': expected an integer, found 1e+20");
  expect_error(
      [&] { config_from_json(t, nlohmann::json::parse(R"({"small": 99999999999})"), "x.json"); },
      "x.json: key 'small': value 99999999999 is out of range");
}

TEST(ConfigHelp, ListsEveryFieldWithItsTypeMeaningAndDefault) {
  Sample sample;
  sample.depth = 6;  // the help shows the values it is given: the command's defaults
  const std::string help = config_help(sample);
  const std::vector<std::string> expected = {
      "  --depth INT                       the depth (default: 6)",
      "  --lr FLOAT                        the lr (default: 0.02)",
      "  --async_save [BOOL]               the async_save (default: false)",
      "  --run STR                         the run (default: \"dummy\")",
      "  --small INT                       the small (default: 1)"};
  std::string joined;
  for (const auto& line : expected) joined += line + "\n";
  EXPECT_EQ(help, joined);
}

}  // namespace
}  // namespace nt
