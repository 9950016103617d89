// Resolution and validation of TrainConfig from a JSON file plus flags.
#include "trainer/train_config.h"

#include <fmt/format.h>

#include <fstream>
#include <stdexcept>

#include "checkpoint/checkpoint_manager.h"
#include "checkpoint/checkpointer.h"
#include "data/token_shard.h"
#include "runtime/config_io.h"
#include "runtime/environment.h"

namespace nt {
namespace {

constexpr double kMaxCollectiveTimeout = 7 * 24 * 3600;  // a week: beyond it, a typo

}  // namespace

void TrainConfig::validate() const {
  if (run.empty()) throw std::invalid_argument("run: expected a name, found an empty string");
  if (peak_flops == 0 || peak_flops < -1)
    throw std::invalid_argument(
        fmt::format("peak_flops: expected a positive FLOP/s figure or -1, found {}", peak_flops));
  const std::pair<const char*, int64_t> positive[] = {
      {"depth", depth}, {"max_seq_len", max_seq_len}, {"device_batch_size", device_batch_size}};
  for (const auto& [name, value] : positive)
    if (value <= 0)
      throw std::invalid_argument(
          fmt::format("{}: expected a positive integer, found {}", name, value));
  const std::pair<const char*, double> fractions[] = {{"warmup_ratio", warmup_ratio},
                                                      {"warmdown_ratio", warmdown_ratio},
                                                      {"final_lr_frac", final_lr_frac}};
  for (const auto& [name, value] : fractions)
    if (!(value >= 0.0 && value <= 1.0))
      throw std::invalid_argument(
          fmt::format("{}: expected a number in [0, 1], found {}", name, value));
  if (warmup_ratio + warmdown_ratio > 1.0)
    throw std::invalid_argument(
        fmt::format("warmup_ratio + warmdown_ratio: expected at most 1, found {}",
                    warmup_ratio + warmdown_ratio));
  device_type();
  compute_dtype();
  if (num_iterations == 0 || num_iterations < -1)
    throw std::invalid_argument(
        fmt::format("num_iterations: expected a positive integer or -1, found {}", num_iterations));
  if (num_iterations == -1 && !(target_flops > 0) && !(target_param_data_ratio > 0))
    throw std::invalid_argument(
        "num_iterations is -1: set target_flops or target_param_data_ratio to derive it");
  if (total_batch_size == 0 || total_batch_size < -1)
    throw std::invalid_argument(
        fmt::format("total_batch_size: expected a positive number of tokens or -1, found {}",
                    total_batch_size));
  for (const auto& [name, value] :
       {std::pair<const char*, int64_t>{"save_every", save_every}, {"eval_every", eval_every}})
    if (value < -1 || (value == 0 && std::string(name) == "eval_every"))
      throw std::invalid_argument(
          fmt::format("{}: expected a positive integer or -1, found {}", name, value));
  if (eval_tokens <= 0)
    throw std::invalid_argument(
        fmt::format("eval_tokens: expected a positive integer, found {}", eval_tokens));
  if (keep_last == 0 || keep_last < -1)
    throw std::invalid_argument(
        fmt::format("keep_last: expected a positive integer or -1, found {}", keep_last));
  parse_resume_from_step(resume_from_step, /*restarted=*/false);
  if (snapshot_every < -1)
    throw std::invalid_argument(fmt::format(
        "snapshot_every: expected a step count, 0 (never) or -1 (auto), found {}", snapshot_every));
  if (snapshot_dir.empty() || snapshot_dir[0] != '/')
    throw std::invalid_argument(
        fmt::format("snapshot_dir: expected an absolute path, found '{}'", snapshot_dir));
  if (!(collective_timeout >= 1 && collective_timeout <= kMaxCollectiveTimeout))
    throw std::invalid_argument(
        fmt::format("collective_timeout: expected seconds in [1, {}], found {}",
                    kMaxCollectiveTimeout, collective_timeout));
  parse_on_save_error(on_save_error);
  parse_checkpoint_layout(checkpoint_layout);
  optim.validate();
}

std::string TrainConfig::checkpoint_dir() const {
  return get_base_dir() + "/" + source_directory("base") + "/" +
         (model_tag.empty() ? fmt::format("d{}", depth) : model_tag);
}

torch::DeviceType TrainConfig::device_type() const {
  if (device == "cpu") return torch::kCPU;
  if (device == "cuda") return torch::kCUDA;
  throw std::invalid_argument(fmt::format("device: expected cpu or cuda, found '{}'", device));
}

torch::ScalarType TrainConfig::compute_dtype() const {
  if (dtype == "float32") return torch::kFloat32;
  if (dtype == "bfloat16") return torch::kBFloat16;
  throw std::invalid_argument(
      fmt::format("dtype: expected float32 or bfloat16, found '{}'", dtype));
}

CheckpointerOptions TrainConfig::checkpointer_options(const DistEnv& env) const {
  CheckpointerOptions options;
  options.dir = checkpoint_dir();
  options.keep_last = keep_last;
  options.save_every = save_interval();
  options.async = async_save;
  options.on_save_error = parse_on_save_error(on_save_error);
  options.prune_abandoned = prune_abandoned;
  options.layout = parse_checkpoint_layout(checkpoint_layout);
  options.snapshot_every = snapshot_every >= 0 ? snapshot_every : (env.max_restarts > 0 ? 1 : 0);
  options.snapshot_root = snapshot_dir;
  options.job_secret = env.job_secret;
  options.local_rank = env.local_rank;
  options.local_world_size = env.local_world_size;
  options.restarted = env.restart_count > 0;
  return options;
}

std::string TrainConfig::token_data_dir() const {
  return data_dir.empty() ? get_base_data_dir() : data_dir;
}

std::string TrainConfig::tensorboard_path() const {
  return tensorboard_dir == "auto" ? checkpoint_dir() + "/tb" : tensorboard_dir;
}

TrainConfig parse_train_config(const std::vector<std::string>& args) {
  TrainConfig config;
  std::vector<Flag> flags;
  for (auto& flag : parse_flags(args)) {
    if (flag.name != "config") {
      flags.push_back(std::move(flag));
      continue;
    }
    std::ifstream in(flag.value);
    if (!in) throw std::invalid_argument(fmt::format("--config: cannot open '{}'", flag.value));
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {  // parse_error, out_of_range (1e400)
      throw std::invalid_argument(fmt::format("{}: invalid JSON: {}", flag.value, e.what()));
    }
    config_from_json(config, j, flag.value);
  }
  config_from_flags(config, flags);
  config.validate();
  return config;
}

}  // namespace nt
