// `nanotrain loss` and `nanotrain sample`: a checkpoint loaded through build_model, scored on a
// token list (with no tokenizer: ids need none) or asked to continue a prompt.
#include <fmt/format.h>

#include <fstream>
#include <iostream>

#include "checkpoint/checkpoint_manager.h"
#include "checkpoint/step_dir.h"
#include "cli/cli_args.h"
#include "cli/commands.h"
#include "data/tokenizer.h"

namespace nt {
namespace {

constexpr const char* kLossUsage =
    "usage: nanotrain loss --checkpoint_dir DIR --tokens FILE [--step N]\n"
    "The mean next-token loss of a checkpoint on a file of whitespace-separated token ids; needs\n"
    "no tokenizer.\n";

constexpr const char* kSampleUsage =
    "usage: nanotrain sample --checkpoint_dir DIR --prompt TEXT [--step N --max_tokens N\n"
    "                        --temperature T --top_k K --seed S --tokenizer_dir DIR]\n"
    "Continues a prompt with a checkpoint, encoded and decoded by the tokenizer it was trained\n"
    "with.\n";

struct LossFlags {
  std::string checkpoint_dir;
  int64_t step = -1;
  std::string tokens;

  template <class V>
  void visit(V&& v) {
    v("checkpoint_dir", checkpoint_dir, "the checkpoint directory (required)");
    v("step", step, "the step to load; -1: the last complete step");
    v("tokens", tokens, "file of whitespace-separated token ids (required)");
  }
};

struct SampleFlags {
  std::string checkpoint_dir;
  int64_t step = -1;
  std::string prompt;
  int64_t max_tokens = 128;
  double temperature = 1.0;
  int64_t top_k = 0;
  int64_t seed = 42;
  std::string tokenizer_dir;

  template <class V>
  void visit(V&& v) {
    v("checkpoint_dir", checkpoint_dir, "the checkpoint directory (required)");
    v("step", step, "the step to load; -1: the last complete step");
    v("prompt", prompt, "the text to continue");
    v("max_tokens", max_tokens, "tokens to generate");
    v("temperature", temperature, "softmax temperature; 0: greedy");
    v("top_k", top_k, "sample among the K likeliest tokens; 0: all");
    v("seed", seed, "sampling seed");
    v("tokenizer_dir", tokenizer_dir,
      "folder of the tokenizer.model the model was trained with; \"\": <base_dir>/tokenizer");
  }
};

template <class Flags>
Flags parse_eval_flags(const std::vector<std::string>& args, const char* command) {
  Flags flags;
  config_from_flags(flags, parse_flags(args));
  if (flags.checkpoint_dir.empty())
    throw std::invalid_argument(fmt::format("{}: --checkpoint_dir DIR is required", command));
  return flags;
}

template <class Flags>
int64_t eval_step(const Flags& flags) {
  return flags.step >= 0 ? flags.step : find_last_step(flags.checkpoint_dir);
}

// The tokenizer of --tokenizer_dir; an error names the folder tried, the model's vocabulary and
// the flag that points elsewhere.
std::unique_ptr<Tokenizer> tokenizer_for(const GPT& model, const SampleFlags& flags) {
  const std::string dir = flags.tokenizer_dir.empty() ? get_tokenizer_dir() : flags.tokenizer_dir;
  const int64_t vocab_size = model->config().vocab_size;
  const auto needed = [&](const std::string& found) {
    return std::runtime_error(fmt::format(
        "sample needs the tokenizer {} was trained with ({} tokens); {}: pass --tokenizer_dir "
        "with the folder of that tokenizer.model",
        flags.checkpoint_dir, vocab_size, found));
  };
  std::unique_ptr<Tokenizer> tokenizer;
  try {
    tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_dir(dir));
  } catch (const std::runtime_error& e) {
    throw needed(e.what());
  }
  if (tokenizer->vocab_size() != vocab_size)
    throw needed(
        fmt::format("{}/{} has {} tokens", dir, kTokenizerFileName, tokenizer->vocab_size()));
  return tokenizer;
}

std::vector<int64_t> read_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("--tokens: cannot open '" + path + "'");
  std::vector<int64_t> ids;
  std::string word;
  while (in >> word) {
    size_t used = 0;
    int64_t id = -1;
    try {
      id = std::stoll(word, &used);
    } catch (const std::logic_error&) {
      used = 0;
    }
    if (used != word.size())
      throw std::invalid_argument(
          fmt::format("{}: token {}: expected an integer id, found '{}'", path, ids.size(), word));
    ids.push_back(id);
  }
  return ids;
}

}  // namespace

int loss_command(const std::vector<std::string>& args) {
  if (help_requested(args)) return print_help<LossFlags>(kLossUsage);
  const auto flags = parse_eval_flags<LossFlags>(args, "loss");
  if (flags.tokens.empty()) throw std::invalid_argument("loss: --tokens FILE is required");
  const auto ids = read_token_file(flags.tokens);
  if (ids.size() < 2)
    throw std::invalid_argument(
        fmt::format("{}: expected at least 2 token ids, found {}", flags.tokens, ids.size()));
  // Token ids need no tokenizer: the checkpoint alone scores them.
  auto built =
      build_model_without_tokenizer(flags.checkpoint_dir, eval_step(flags), torch::kCPU, "eval");
  const int64_t vocab_size = built.model->config().vocab_size;
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= vocab_size)
      throw std::invalid_argument(
          fmt::format("{}: token {}: id {} is outside the model's "
                      "vocabulary [0, {})",
                      flags.tokens, i, ids[i], vocab_size));
  torch::NoGradGuard no_grad;
  auto all = torch::tensor(ids, torch::kInt64).view({1, -1});
  const int64_t n = all.size(1) - 1;
  auto loss = built.model->forward(all.narrow(1, 0, n), all.narrow(1, 1, n));
  std::cout << fmt::format("loss: {:.6f}\n", loss.item<double>());
  return 0;
}

int sample_command(const std::vector<std::string>& args) {
  if (help_requested(args)) return print_help<SampleFlags>(kSampleUsage);
  const auto flags = parse_eval_flags<SampleFlags>(args, "sample");
  if (flags.max_tokens < 0 || flags.temperature < 0 || flags.top_k < 0)
    throw std::invalid_argument(
        fmt::format("sample: expected max_tokens, temperature and top_k >= 0, found {}, {}, {}",
                    flags.max_tokens, flags.temperature, flags.top_k));
  auto built =
      build_model_without_tokenizer(flags.checkpoint_dir, eval_step(flags), torch::kCPU, "eval");
  const auto tokenizer = tokenizer_for(built.model, flags);
  const int64_t context = built.model->config().sequence_len;
  std::vector<int64_t> ids = {tokenizer->bos_token_id()};
  for (int64_t id : tokenizer->encode(flags.prompt)) ids.push_back(id);
  const size_t prompt_len = ids.size();
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(flags.seed));
  torch::NoGradGuard no_grad;
  for (int64_t i = 0; i < flags.max_tokens; ++i) {
    const int64_t start = std::max<int64_t>(0, static_cast<int64_t>(ids.size()) - context);
    auto window =
        torch::tensor(std::vector<int64_t>(ids.begin() + start, ids.end()), torch::kInt64);
    auto logits = built.model->forward(window.view({1, -1})).select(1, -1).squeeze(0);  // (V,)
    int64_t next;
    if (flags.temperature == 0.0) {
      next = logits.argmax().item<int64_t>();
    } else {
      logits = logits / flags.temperature;
      if (flags.top_k > 0 && flags.top_k < logits.size(0)) {
        const auto kth = std::get<0>(logits.topk(flags.top_k)).min();
        logits = logits.masked_fill(logits < kth, -std::numeric_limits<float>::infinity());
      }
      next = torch::softmax(logits, 0).multinomial(1, false, gen).item<int64_t>();
    }
    ids.push_back(next);
  }
  std::cout << flags.prompt
            << tokenizer->decode(std::vector<int64_t>(ids.begin() + prompt_len, ids.end())) << "\n";
  return 0;
}

}  // namespace nt
