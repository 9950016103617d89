// `nanotrain train`: the command line of trainer/train.h's loop.
#include "cli/cli_args.h"
#include "cli/commands.h"
#include "runtime/preemption.h"
#include "trainer/train.h"

namespace nt {
namespace {

constexpr const char* kTrainUsage =
    "usage: nanotrain train [--config FILE] [--flag=value ...]\n"
    "       ntrun --nproc_per_node N nanotrain train [...]\n"
    "Trains a GPT with nanochat's base_train flags and loop, saving checkpoints to\n"
    "<base_dir>/base_checkpoints/<model_tag>. --config FILE reads a JSON object of these flags\n"
    "first; flags after it override. Under ntrun, torchrun, srun or mpirun every rank runs it.\n";

}  // namespace

int train_command(const std::vector<std::string>& args) {
  if (help_requested(args)) return print_help<TrainConfig>(kTrainUsage);
  return train(parse_train_config(args)).preempted ? kExitPreempted : 0;
}

}  // namespace nt
