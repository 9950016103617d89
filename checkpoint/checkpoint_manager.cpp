// The save protocol (files, then meta, then a directory fsync) and the load path, which checks
// a step's commit record before it reads a byte of tensor data.
#include "checkpoint/checkpoint_manager.h"

#include <fmt/format.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <stdexcept>

#include "checkpoint/meta.h"
#include "checkpoint/sharded_checkpoint.h"
#include "checkpoint/step_dir.h"
#include "optim/nanochat_layout.h"
#include "runtime/crash_point.h"
#include "runtime/environment.h"
#include "runtime/log.h"
#include "serialize/atomic_file.h"
#include "serialize/crc32c.h"
#include "serialize/torch_file.h"

namespace fs = std::filesystem;

namespace nt {
namespace {

// nanochat's optimizer state: one list file [AdamW, Muon], or one file per rank of ranks
// 0..W-1. A single-process run's rank 0 file holds the whole state; the files of a distributed
// run (DistAdamW, DistMuon: optim/nanochat_layout.h) are shards, merged when loaded.
void load_nanochat_optimizer(const std::string& checkpoint_dir, int64_t step, torch::Device device,
                             CheckpointData& data) {
  const std::string list_path = checkpoint_dir + "/" + optim_file_name(step);
  std::error_code ec;
  if (fs::exists(list_path, ec)) {
    data.optimizer_data = load_torch_file(list_path, device);
    return;
  }
  const auto ranks = list_rank_optim_files(checkpoint_dir, step);
  if (ranks.empty())
    throw std::runtime_error(fmt::format("{}: step {} has no optimizer state (neither {} nor {})",
                                         checkpoint_dir, step, optim_file_name(step),
                                         rank_optim_file_name(step, 0)));
  for (size_t r = 0; r < ranks.size(); ++r)
    if (ranks[r] != static_cast<int64_t>(r))
      throw std::runtime_error(fmt::format(
          "{}: step {} has optimizer files of ranks [{}]; expected ranks 0 to {}, {} missing",
          checkpoint_dir, step, fmt::join(ranks, ", "), ranks.back(),
          rank_optim_file_name(step, static_cast<int64_t>(r))));
  const auto distributed = [](const c10::IValue& list) {
    return list.isList() && list.toListRef().size() == 2 &&
           is_dist_muon_state_dict(list.toListRef()[1]);
  };
  for (int64_t r : ranks) {
    const std::string path = checkpoint_dir + "/" + rank_optim_file_name(step, r);
    data.optimizer_shards.push_back(load_torch_file(path, device));
    if (ranks.size() == 1 && !distributed(data.optimizer_shards.back())) {
      data.optimizer_data = std::move(data.optimizer_shards.back());
      data.optimizer_shards.clear();
    } else if (!distributed(data.optimizer_shards.back())) {
      throw std::runtime_error(fmt::format(
          "{}: expected [DistAdamW, DistMuon] state dicts, as each of the {} files of a "
          "distributed nanochat run holds; found another layout",
          path, ranks.size()));
    }
  }
}

}  // namespace

void require_rank_zero(const char* operation, int rank) {
  if (rank != 0)
    throw std::logic_error(fmt::format(
        "rank {}: {} called on rank {}; only rank 0 writes checkpoints", rank, operation, rank));
}

ModelData model_state_dict(const GPT& model) {
  ModelData data;
  for (const auto& item : model->named_parameters()) data.insert(item.key(), item.value().detach());
  return data;
}

void save_checkpoint(const std::string& checkpoint_dir, int64_t step, const ModelData& model_data,
                     const std::optional<c10::IValue>& optimizer_data,
                     const nlohmann::json& meta_data, int rank, int world_size) {
  require_rank_zero("save_checkpoint", rank);
  if (step < 0) throw std::invalid_argument(fmt::format("save_checkpoint: step {} < 0", step));
  prepare_step(checkpoint_dir, step);
  CommitRecord record;
  record.world_size = world_size;
  try {
    const std::string model_name = model_file_name(step);
    record.add(model_name, save_torch_file(model_data, checkpoint_dir + "/" + model_name));
    log0("Saved model parameters to: {}/{}", checkpoint_dir, model_name);
    crash_point("between_files");
    if (optimizer_data) {
      const std::string optim_name = optim_file_name(step);
      record.add(optim_name, save_torch_file(*optimizer_data, checkpoint_dir + "/" + optim_name));
      log0("Saved optimizer state to: {}/{}", checkpoint_dir, optim_name);
    }
  } catch (...) {
    // Only this step's files: on a failing disk, other steps' completeness cannot be trusted
    // to be read correctly.
    try {
      remove_step(checkpoint_dir, step);
    } catch (const std::exception&) {
      // The save's own error is the one to report.
    }
    throw;
  }
  commit_step(checkpoint_dir, step, meta_data, record);
}

CheckpointData load_checkpoint(const std::string& checkpoint_dir, int64_t step,
                               torch::Device device, bool load_optimizer, bool verify) {
  return load_checkpoint(checkpoint_dir, step,
                         read_meta(checkpoint_dir + "/" + meta_file_name(step)), device,
                         load_optimizer, verify);
}

CheckpointData load_checkpoint(const std::string& checkpoint_dir, int64_t step,
                               nlohmann::json meta_data, torch::Device device, bool load_optimizer,
                               bool verify) {
  const std::string meta_path = checkpoint_dir + "/" + meta_file_name(step);
  CheckpointData data;
  data.meta_data = std::move(meta_data);
  if (data.meta_data.at("step").get<int64_t>() != step)
    throw std::runtime_error(fmt::format("{}: step {} recorded, expected {}", meta_path,
                                         data.meta_data.at("step").get<int64_t>(), step));
  const std::string model_name = model_file_name(step);
  const bool committed = has_commit_record(data.meta_data);
  if (committed) {
    const auto& files = data.meta_data.at("files");
    if (!files.contains(model_name))
      throw std::runtime_error(fmt::format("{}: files does not name {}", meta_path, model_name));
    if (load_optimizer && !is_sharded_step(data.meta_data) &&
        !files.contains(optim_file_name(step)))
      throw std::runtime_error(fmt::format("{}: step {} has no optimizer state ({} not recorded)",
                                           meta_path, step, optim_file_name(step)));
    verify_files(checkpoint_dir, data.meta_data, verify);
  } else {
    log0("{}: no commit record (a nanochat checkpoint): files are read without verification",
         meta_path);
  }

  const std::string model_path = checkpoint_dir + "/" + model_name;
  const c10::IValue model = load_torch_file(model_path, device);
  if (!model.isGenericDict())
    throw std::runtime_error(model_path + ": expected a dict of name -> tensor");
  for (const auto& item : model.toGenericDict()) {
    if (!item.key().isString() || !item.value().isTensor())
      throw std::runtime_error(model_path + ": expected a dict of name -> tensor");
    data.model_data.insert(item.key().toStringRef(), item.value().toTensor());
  }
  if (load_optimizer && committed && is_sharded_step(data.meta_data))
    data.optimizer_shards = load_optimizer_shards(checkpoint_dir, step, data.meta_data);
  else if (load_optimizer && committed)
    data.optimizer_data = load_torch_file(checkpoint_dir + "/" + optim_file_name(step), device);
  else if (load_optimizer)
    load_nanochat_optimizer(checkpoint_dir, step, device, data);
  return data;
}

ParameterShapes parameter_shapes(const GPT& model) {
  ParameterShapes shapes;
  for (const auto& item : model->named_parameters())
    shapes[item.key()] = item.value().sizes().vec();
  return shapes;
}

std::string parameter_name(const std::string& saved_name) {
  const std::string prefix = "_orig_mod.";
  return saved_name.compare(0, prefix.size(), prefix) == 0 ? saved_name.substr(prefix.size())
                                                           : saved_name;
}

void load_model_data(GPT& model, ModelData data, const ParameterShapes& shapes,
                     torch::Device device, const std::string& where) {
  std::map<std::string, at::Tensor> loaded;
  for (const auto& item : data) loaded[parameter_name(item.key())] = item.value();
  data.clear();
  std::vector<std::string> missing, unexpected, mis_shaped;
  for (const auto& [name, shape] : shapes) {
    auto it = loaded.find(name);
    if (it == loaded.end())
      missing.push_back(name);
    else if (it->second.sizes() != c10::IntArrayRef(shape))
      mis_shaped.push_back(fmt::format("{} (expected {}, found {})", name,
                                       c10::str(c10::IntArrayRef(shape)),
                                       c10::str(it->second.sizes())));
  }
  for (const auto& [name, tensor] : loaded)
    if (!shapes.count(name)) unexpected.push_back(name);
  if (!missing.empty() || !unexpected.empty() || !mis_shaped.empty())
    throw std::runtime_error(fmt::format(
        "{}: state dict does not fit the model: missing [{}], unexpected [{}], mis-shaped [{}]",
        where, fmt::join(missing, ", "), fmt::join(unexpected, ", "), fmt::join(mis_shaped, ", ")));
  // set_data keeps each parameter's identity, so optimizers holding it stay valid.
  for (auto& item : model->named_parameters()) {
    auto it = loaded.find(item.key());
    item.value().set_data(it->second.to(device, torch::kFloat32));
    loaded.erase(it);  // drop the file's tensor as soon as it is the parameter (or converted)
  }
}

BuiltModel build_model_without_tokenizer(const std::string& checkpoint_dir, int64_t step,
                                         torch::Device device, const std::string& phase,
                                         torch::ScalarType compute_dtype) {
  if (phase != "train" && phase != "eval")
    throw std::invalid_argument(
        fmt::format("build_model: phase must be 'train' or 'eval', found '{}'", phase));
  const std::string meta_path = checkpoint_dir + "/" + meta_file_name(step);
  // Read the config before the weights so a bad meta fails fast.
  nlohmann::json meta = read_meta(meta_path);
  const GPTConfig config = model_config_from_meta(meta, meta_path);

  BuiltModel built;
  built.model = GPT(config);
  // Release the freshly built weights before loading, so that only one copy is ever resident:
  // the loaded tensors become the parameters.
  const ParameterShapes shapes = parameter_shapes(built.model);
  for (auto& p : built.model->parameters()) p.set_data(torch::empty({0}, p.options()));
  CheckpointData data =
      load_checkpoint(checkpoint_dir, step, std::move(meta), device, /*load_optimizer=*/false);
  built.meta_data = std::move(data.meta_data);
  load_model_data(built.model, std::move(data.model_data), shapes, device,
                  checkpoint_dir + "/" + model_file_name(step));
  built.model->to(device);
  built.model->set_compute_dtype(compute_dtype);
  built.model->train(phase == "train");
  return built;
}

BuiltModel build_model(const std::string& checkpoint_dir, int64_t step, torch::Device device,
                       const std::string& phase, torch::ScalarType compute_dtype) {
  BuiltModel built =
      build_model_without_tokenizer(checkpoint_dir, step, device, phase, compute_dtype);
  built.tokenizer = get_tokenizer();
  const int64_t vocab_size = built.model->config().vocab_size;
  if (built.tokenizer->vocab_size() != vocab_size)
    throw std::runtime_error(fmt::format(
        "{}/{}: model_config.vocab_size is {} but the tokenizer has {} tokens", checkpoint_dir,
        meta_file_name(step), vocab_size, built.tokenizer->vocab_size()));
  return built;
}

std::string find_largest_model(const std::string& checkpoints_dir) {
  std::error_code ec;
  std::vector<fs::directory_entry> tags;
  for (const auto& entry : fs::directory_iterator(checkpoints_dir, ec))
    if (entry.is_directory(ec)) tags.push_back(entry);
  if (ec && tags.empty())
    throw std::runtime_error(fmt::format("cannot list '{}': {}", checkpoints_dir, ec.message()));
  if (tags.empty())
    throw std::runtime_error(fmt::format("no model directories in '{}'", checkpoints_dir));
  int64_t best_depth = -1;
  std::string best;
  for (const auto& tag : tags) {
    const std::string name = tag.path().filename().string();
    size_t n = 1;
    while (n < name.size() && n < 19 && std::isdigit(static_cast<unsigned char>(name[n]))) ++n;
    if (name[0] != 'd' || n == 1) continue;
    const int64_t depth = std::stoll(name.substr(1, n - 1));
    if (depth > best_depth) best_depth = depth, best = name;
  }
  if (!best.empty()) return best;
  auto newest = std::max_element(tags.begin(), tags.end(), [](const auto& a, const auto& b) {
    std::error_code e;
    return fs::last_write_time(a.path(), e) < fs::last_write_time(b.path(), e);
  });
  return newest->path().filename().string();
}

std::string source_directory(const std::string& source) {
  if (source == "base") return "base_checkpoints";
  if (source == "mid") return "mid_checkpoints";
  if (source == "sft") return "chatsft_checkpoints";
  if (source == "rl") return "chatrl_checkpoints";
  throw std::invalid_argument(
      fmt::format("unknown checkpoint source '{}': expected one of base, mid, sft, rl", source));
}

BuiltModel load_model_from_dir(const std::string& checkpoints_dir, torch::Device device,
                               const std::string& phase, const std::string& model_tag,
                               int64_t step) {
  std::string tag = model_tag;
  if (tag.empty()) {
    tag = find_largest_model(checkpoints_dir);
    log0("No model tag provided, guessing model tag: {}", tag);
  }
  const std::string checkpoint_dir = checkpoints_dir + "/" + tag;
  if (step < 0) step = find_last_step(checkpoint_dir);
  log0("Loading model from {} with step {}", checkpoint_dir, step);
  return build_model(checkpoint_dir, step, device, phase);
}

BuiltModel load_model(const std::string& source, torch::Device device, const std::string& phase,
                      const std::string& model_tag, int64_t step) {
  return load_model_from_dir(get_base_dir() + "/" + source_directory(source), device, phase,
                             model_tag, step);
}

}  // namespace nt
