// `nanotrain ckpt list | inspect | verify | prune | export | import`: looking after checkpoint
// directories without writing Python, and moving models to and from safetensors files and
// torch.distributed.checkpoint (DCP) directories.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "checkpoint/checkpoint_manager.h"
#include "checkpoint/dir_lock.h"
#include "checkpoint/meta.h"
#include "checkpoint/model_export.h"
#include "checkpoint/sharded_checkpoint.h"
#include "checkpoint/step_dir.h"
#include "cli/cli_args.h"
#include "cli/commands.h"
#include "runtime/config_io.h"
#include "runtime/environment.h"
#include "serialize/torch_file.h"

namespace fs = std::filesystem;

namespace nt {
namespace {

constexpr const char* kCkptUsage =
    "usage: nanotrain ckpt list [--base_dir D]\n"
    "       nanotrain ckpt inspect DIR [--step N]\n"
    "       nanotrain ckpt verify DIR [--step N]\n"
    "       nanotrain ckpt prune DIR --keep_last K [--keep_every N]\n"
    "       nanotrain ckpt export DIR [--step N] --format safetensors|dcp --out PATH\n"
    "                             [--layout gathered]\n"
    "       nanotrain ckpt import PATH|DCP_DIR --out DIR [--format dcp --model_config FILE]\n"
    "                             [--step N]\n"
    "Lists, inspects, verifies (checksums, commit records), prunes, exports and imports\n"
    "checkpoint directories.\n";

struct CkptFlags {
  std::string base_dir;
  int64_t step = -1;
  int64_t keep_last = -1;
  int64_t keep_every = 0;
  std::string format = "safetensors";
  std::string out;
  std::string model_config;
  std::string layout;

  template <class V>
  void visit(V&& v) {
    v("base_dir", base_dir,
      "list: the base directory; \"\": NANOTRAIN_BASE_DIR or ~/.cache/nanotrain");
    v("step", step,
      "inspect, verify, export: the step (-1: the last complete one / every one); import: the "
      "step to write (-1: the file's)");
    v("keep_last", keep_last, "prune: keep the newest K steps (required)");
    v("keep_every", keep_every, "prune: also keep the multiples of N; 0: none");
    v("format", format, "export, import: safetensors | dcp");
    v("out", out, "export: the .safetensors file or DCP folder; import: the checkpoint folder");
    v("model_config", model_config, "import --format dcp: nanochat's model_config as a JSON file");
    v("layout", layout, "export --layout gathered: a sharded step as nanochat's files");
  }
};

int list(const CkptFlags& flags) {
  const std::string base = flags.base_dir.empty() ? get_base_dir() : flags.base_dir;
  std::cout << fmt::format("{:<6} {:<16} {:>8} {:>12}  {}\n", "source", "tag", "step", "bytes",
                           "state");
  int rows = 0;
  for (const char* source : {"base", "mid", "sft", "rl"}) {
    const std::string source_dir = base + "/" + source_directory(source);
    std::error_code ec;
    std::vector<std::string> tags;
    for (const auto& entry : fs::directory_iterator(source_dir, ec))
      if (entry.is_directory(ec)) tags.push_back(entry.path().filename().string());
    std::sort(tags.begin(), tags.end());
    for (const auto& tag : tags) {
      const std::string dir = source_dir + "/" + tag;
      for (int64_t step : list_meta_steps(dir)) {
        ++rows;
        std::cout << fmt::format("{:<6} {:<16} {:>8} {:>12}  {}\n", source, tag, step,
                                 step_bytes(dir, step),
                                 is_complete_step(dir, step) ? "complete" : "incomplete");
      }
    }
  }
  if (rows == 0) std::cout << "(no checkpoints under " << base << ")\n";
  return 0;
}

int inspect(const std::string& dir, const CkptFlags& flags) {
  const int64_t step = flags.step >= 0 ? flags.step : find_last_step(dir);
  const auto data = load_checkpoint(dir, step, torch::kCPU, false, /*verify=*/false);
  const auto& meta = data.meta_data;
  std::cout << fmt::format("checkpoint: {} step {}\n", dir, step);
  for (const char* key : {"created", "world_size", "format_version", "val_bpb"})
    if (meta.contains(key)) std::cout << fmt::format("{}: {}\n", key, json_brief(meta[key]));
  if (is_sharded_step(meta))
    std::cout << fmt::format(
        "layout: sharded, optimizer state in {} per-rank files (for Python's torch.load: "
        "nanotrain ckpt export {} --step {} --layout gathered --out DIR)\n",
        json_brief(meta["optim_shards"]), dir, step);
  std::cout << "model_config: " << meta["model_config"].dump() << "\n";
  int64_t params = 0;
  for (const auto& item : data.model_data) params += item.value().numel();
  std::cout << fmt::format("parameters: {}\n", params);
  for (const auto& item : data.model_data)
    std::cout << fmt::format("  {:<40} {} {}\n", item.key(), c10::str(item.value().sizes()),
                             c10::toString(item.value().scalar_type()));
  if (!has_commit_record(meta)) {
    std::cout << "files: no commit record (a nanochat checkpoint)\n";
    return 0;
  }
  for (const auto& [name, entry] : meta.at("files").items())
    std::cout << fmt::format("file {}: {} bytes, crc32c {}\n", name, entry["bytes"].dump(),
                             entry["crc32c"].get<std::string>());
  return 0;
}

int verify(const std::string& dir, const CkptFlags& flags) {
  std::vector<int64_t> steps =
      flags.step >= 0 ? std::vector<int64_t>{flags.step} : list_meta_steps(dir);
  if (steps.empty()) throw std::runtime_error("no checkpoint steps in '" + dir + "'");
  int damaged = 0;
  for (int64_t step : steps) {
    try {
      const auto meta = read_meta(dir + "/" + meta_file_name(step));
      if (!has_commit_record(meta)) {
        if (!is_complete_step(dir, step))
          throw std::runtime_error(model_file_name(step) + " is missing");
        std::cout << fmt::format(
            "step {}: no commit record (a nanochat checkpoint), nothing "
            "to verify\n",
            step);
        continue;
      }
      verify_files(dir, meta, /*checksums=*/true);
      std::cout << fmt::format("step {}: ok\n", step);
    } catch (const std::exception& e) {
      ++damaged;
      std::cout << fmt::format("step {}: DAMAGED: {}\n", step, e.what());
    }
  }
  return damaged == 0 ? 0 : 1;
}

int prune(const std::string& dir, const CkptFlags& flags) {
  if (flags.keep_last < 0)
    throw std::invalid_argument("ckpt prune: --keep_last K (K >= 0) is required");
  if (!fs::is_directory(dir))
    throw std::runtime_error("checkpoint directory '" + dir + "' does not exist");
  // A live run's *.tmp files and uncommitted step look exactly like a killed save's leftovers:
  // only prune while no run holds the directory.
  DirLock lock(dir);
  for (const auto& name : remove_incomplete_steps(dir))
    std::cout << "removed leftover " << name << "\n";
  for (int64_t step : prune_checkpoints(dir, flags.keep_last, flags.keep_every))
    std::cout << "removed step " << step << "\n";
  return 0;
}

void check_format(const char* action, const CkptFlags& flags) {
  if (flags.format != "safetensors" && flags.format != "dcp")
    throw std::invalid_argument(fmt::format(
        "ckpt {}: --format: expected safetensors or dcp, found '{}'", action, flags.format));
}

int export_model(const std::string& dir, const CkptFlags& flags) {
  if (!flags.layout.empty()) {
    if (flags.layout != "gathered")
      throw std::invalid_argument(
          fmt::format("ckpt export: --layout: expected gathered, found '{}'", flags.layout));
    if (flags.out.empty())
      throw std::invalid_argument(
          "ckpt export --layout gathered: --out DIR (the checkpoint directory) is required");
    const int64_t step = export_gathered(dir, flags.step, flags.out);
    std::cout << fmt::format("exported step {} of {} in the gathered layout to {}\n", step, dir,
                             flags.out);
    return 0;
  }
  check_format("export", flags);
  const bool dcp = flags.format == "dcp";
  if (flags.out.empty())
    throw std::invalid_argument(fmt::format("ckpt export: --out PATH (the {}) is required",
                                            dcp ? "DCP directory" : ".safetensors file"));
  const ExportedModel exported =
      dcp ? export_dcp(dir, flags.step, flags.out) : export_safetensors(dir, flags.step, flags.out);
  std::cout << fmt::format("exported step {} of {}: {} tensors, {} bytes to {}; config in {}\n",
                           exported.step, dir, exported.tensors, exported.bytes, flags.out,
                           exported.config_path);
  return 0;
}

int import_model(const std::string& path, const CkptFlags& flags) {
  check_format("import", flags);
  if (flags.out.empty())
    throw std::invalid_argument("ckpt import: --out DIR (the checkpoint directory) is required");
  if (flags.format == "safetensors") {
    if (!flags.model_config.empty())
      throw std::invalid_argument(
          "ckpt import: --model_config is for --format dcp (a .safetensors file carries its "
          "config)");
    const int64_t step = import_safetensors(path, flags.out, flags.step);
    std::cout << fmt::format("imported {} as step {} of {}\n", path, step, flags.out);
    return 0;
  }
  const ImportedDcp imported = import_dcp(path, flags.out, flags.step, flags.model_config);
  std::cout << fmt::format("imported {} ({} tensors) as step {} of {}\n", path, imported.tensors,
                           imported.step, flags.out);
  if (!imported.skipped.empty())
    std::cout << fmt::format("skipped {} entries that are not model parameters: {}\n",
                             imported.skipped.size(), fmt::join(imported.skipped, ", "));
  return 0;
}

}  // namespace

int ckpt_command(const std::vector<std::string>& args) {
  if (help_requested(args)) return print_help<CkptFlags>(kCkptUsage);
  const CliArgs cli = split_cli_args(args);
  CkptFlags flags;
  config_from_flags(flags, cli.flags);
  const std::string& action =
      positional_at(cli, 0, "ckpt action (list, inspect, verify, prune, export, import)");
  if (action == "list") return list(flags);
  if (action == "import")
    return import_model(positional_at(cli, 1, "safetensors file or DCP directory"), flags);
  const std::string& dir = positional_at(cli, 1, "checkpoint directory");
  if (action == "inspect") return inspect(dir, flags);
  if (action == "verify") return verify(dir, flags);
  if (action == "prune") return prune(dir, flags);
  if (action == "export") return export_model(dir, flags);
  throw std::invalid_argument("unknown ckpt action '" + action +
                              "': expected list, inspect, verify, prune, export or import");
}

}  // namespace nt
