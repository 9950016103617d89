// The `nanotrain` program: dispatches to a subcommand, and turns any error into one line on
// stderr ("rank R: ..." when a launcher started this process as one rank of a job) and a
// non-zero exit code. `nanotrain CMD --help` is each command's own.
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "runtime/crash_point.h"
#include "runtime/dist_env.h"
#include "runtime/error_file.h"
#include "runtime/log.h"
#include "runtime/process.h"

namespace {

constexpr const char* kUsage =
    "usage: nanotrain <command> [--flag=value ...]\n"
    "commands (nanotrain <command> --help lists a command's flags):\n"
    "  prepare  train the tokenizer on a corpus and write token shards\n"
    "  train    train a GPT (nanochat base_train's flags; --config FILE reads a JSON config)\n"
    "  ckpt     list | inspect | verify | prune | export | import checkpoints\n"
    "  loss     mean next-token loss of a checkpoint on a file of token ids\n"
    "  sample   continue a prompt with a checkpoint\n"
    "  plot     draw a run's metrics.jsonl as an SVG\n";

}  // namespace

int main(int argc, char** argv) {
  nt::use_passive_openmp_wait(argv);
  // For messages: the rank a launcher gave us (train checks the environment properly); none
  // outside a distributed job, where a rank would mean nothing.
  std::string prefix;
  try {
    const nt::DistEnv env = nt::read_dist_env();
    nt::set_log_rank(env.rank);
    if (env.source != "none") prefix = "rank " + std::to_string(env.rank) + ": ";
  } catch (const std::exception&) {
  }
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
    std::cerr << prefix << "unknown command '" << argv[1] << "'\n" << kUsage;
    return 2;
  }
  try {
    nt::check_test_hooks();
    return it->second(std::vector<std::string>(argv + 2, argv + argc));
  } catch (const std::exception& e) {
    // Errors raised inside a collective already say which rank they come from.
    // One write, so that the lines of ranks sharing a terminal or log never interleave.
    const std::string message = e.what();
    std::cerr << (message.rfind(prefix, 0) == 0 ? "" : prefix) + message + "\n" << std::flush;
    nt::record_error_file(e);
    return 1;
  }
}
