// The `nanotrain` program: dispatches to a subcommand, and turns any error into one line
// "rank R: ..." on stderr and a non-zero exit code.
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "runtime/dist_env.h"
#include "runtime/error_file.h"
#include "runtime/log.h"
#include "runtime/process.h"
#include "trainer/commands.h"

namespace {

constexpr const char* kUsage =
    "usage: nanotrain <command> [--flag=value ...]\n"
    "commands:\n"
    "  prepare train the tokenizer and write token shards [--input FILES|DIRS --vocab_size N\n"
    "          --shard_tokens N --val_fraction F --base_dir D]; default corpus: the KJV Bible\n"
    "  train   train a GPT (flags: nanochat base_train's; --config FILE reads a JSON config)\n"
    "  ckpt    list [--base_dir D] | inspect DIR [--step N] | verify DIR [--step N]\n"
    "          | prune DIR --keep_last K [--keep_every N]\n"
    "          | export DIR [--step N] --format safetensors|dcp --out PATH\n"
    "          | import PATH|DCP_DIR --out DIR [--format dcp --model_config FILE] [--step N]\n"
    "  loss    --checkpoint_dir DIR [--step N] --tokens FILE: mean next-token loss\n"
    "  sample  --checkpoint_dir DIR [--step N] --prompt TEXT [--max_tokens N --temperature T\n"
    "          --top_k K --seed S]\n"
    "  plot    RUN_DIR [--out FILE]: draw RUN_DIR/metrics.jsonl as an SVG\n";

}  // namespace

int main(int argc, char** argv) {
  nt::use_passive_openmp_wait(argv);
  int rank = 0;  // for messages: from whichever launcher started us; train checks it properly
  try {
    rank = nt::read_dist_env().rank;
  } catch (const std::exception&) {
  }
  nt::set_log_rank(rank);
  nt::configure_process();
  const std::map<std::string, int (*)(const std::vector<std::string>&)> commands = {
      {"prepare", nt::prepare_command}, {"train", nt::train_command},   {"ckpt", nt::ckpt_command},
      {"loss", nt::loss_command},       {"sample", nt::sample_command}, {"plot", nt::plot_command}};
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  auto it = commands.find(argv[1]);
  if (it == commands.end()) {
    std::cerr << "rank " << rank << ": unknown command '" << argv[1] << "'\n" << kUsage;
    return 2;
  }
  try {
    return it->second(std::vector<std::string>(argv + 2, argv + argc));
  } catch (const std::exception& e) {
    // Errors raised inside a collective already say which rank they come from.
    const std::string prefix = "rank " + std::to_string(rank) + ": ";
    const std::string message = e.what();
    std::cerr << (message.rfind(prefix, 0) == 0 ? "" : prefix) << message << "\n";
    nt::record_error_file(e);
    return 1;
  }
}
