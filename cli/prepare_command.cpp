// `nanotrain prepare`: the command line of data/prepare.h's pipeline.
#include "cli/cli_args.h"
#include "cli/commands.h"
#include "data/prepare.h"
#include "runtime/config_io.h"

namespace nt {
namespace {

constexpr const char* kPrepareUsage =
    "usage: nanotrain prepare [--input FILES|DIRS --input_format auto|lines --text_field F\n"
    "                         --tokenizer FILE | --vocab_size N] [--shard_tokens N\n"
    "                         --val_tokens N --val_fraction F --seed S --base_dir D]\n"
    "Trains the tokenizer on a text corpus (or reuses one) and writes the token shards\n"
    "`nanotrain train` reads: <base_dir>/tokenizer/tokenizer.model and <base_dir>/base_data/.\n"
    "Inputs: .txt (a file is a document), .jsonl and .jsonl.gz (a document per line, its text\n"
    "in --text_field); folders stand for those files in them. Empty documents are skipped and\n"
    "counted.\n";

}  // namespace

int prepare_command(const std::vector<std::string>& args) {
  if (help_requested(args)) return print_help<PrepareOptions>(kPrepareUsage);
  PrepareOptions options;
  config_from_flags(options, parse_flags(args));
  options.validate();
  prepare_dataset(options);
  return 0;
}

}  // namespace nt
