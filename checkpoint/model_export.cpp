// Export and import through safetensors and DCP. The model config travels inside the
// .safetensors file, so an import needs nothing else; config.json is for the tools that look
// for one beside the weights. A DCP directory carries it in model_config.json, which DCP itself
// ignores.
#include "checkpoint/model_export.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "checkpoint/checkpoint_manager.h"
#include "checkpoint/dir_lock.h"
#include "checkpoint/meta.h"
#include "checkpoint/sharded_checkpoint.h"
#include "checkpoint/step_dir.h"
#include "optim/setup.h"
#include "runtime/config_io.h"
#include "serialize/atomic_file.h"
#include "serialize/dcp.h"
#include "serialize/safetensors.h"

namespace fs = std::filesystem;

namespace nt {
namespace {

int64_t metadata_int(const SafetensorsMetadata& metadata, const std::string& key,
                     const std::string& path) {
  auto it = metadata.find(key);
  if (it == metadata.end())
    throw std::runtime_error(
        fmt::format("{}: __metadata__ lacks '{}' (the model config)", path, key));
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(it->second, &used);
  } catch (const std::logic_error&) {
    used = 0;
  }
  if (used == 0 || used != it->second.size())
    throw std::runtime_error(
        fmt::format("{}: __metadata__.{}: expected a decimal integer, found "
                    "'{}'",
                    path, key, it->second));
  return value;
}

// Saves an imported or exported step as a new step, under the directory's lock (a training job
// may be writing it, and save_checkpoint removes what it finds incomplete); never replaces one.
void save_new_step(const std::string& checkpoint_dir, int64_t step, const ModelData& model_data,
                   const std::optional<c10::IValue>& optimizer_data, const nlohmann::json& meta) {
  DirLock lock(checkpoint_dir);
  if (fs::exists(checkpoint_dir + "/" + meta_file_name(step)))
    throw std::runtime_error(
        fmt::format("{}: step {} exists already; write into another "
                    "directory or give another --step",
                    checkpoint_dir, step));
  // The step keeps the world size of the job that trained it.
  save_checkpoint(checkpoint_dir, step, model_data, optimizer_data, meta, /*rank=*/0,
                  meta.value("world_size", 1));
}

std::string strip_prefix(const std::string& name, const std::string& prefix) {
  return name.compare(0, prefix.size(), prefix) == 0 ? name.substr(prefix.size()) : name;
}

// What both exports write: a step's model tensors, in the checkpoint's order under the model's
// own names (torch.compile's "_orig_mod." stripped, as build_model does), and its config.
// `step` -1: the last complete step.
struct ModelStep {
  int64_t step = -1;
  GPTConfig config;
  NamedTensors tensors;
};

ModelStep load_model_step(const std::string& checkpoint_dir, int64_t step) {
  ModelStep model;
  model.step = step >= 0 ? step : find_last_step(checkpoint_dir);
  const CheckpointData data = load_checkpoint(checkpoint_dir, model.step, torch::kCPU);
  model.config =
      model_config_from_meta(data.meta_data, checkpoint_dir + "/" + meta_file_name(model.step));
  for (const auto& item : data.model_data)
    model.tensors.emplace_back(parameter_name(item.key()), item.value());
  return model;
}

}  // namespace

ExportedModel export_safetensors(const std::string& checkpoint_dir, int64_t step,
                                 const std::string& out_path) {
  const ModelStep model = load_model_step(checkpoint_dir, step);
  ExportedModel exported;
  exported.step = model.step;
  exported.tensors = model.tensors.size();

  SafetensorsMetadata metadata = {{"format", "pt"}, {"step", std::to_string(exported.step)}};
  const nlohmann::ordered_json config_json = config_to_json(model.config);
  for (const auto& [key, value] : config_json.items()) metadata[key] = value.dump();
  exported.bytes = save_safetensors(out_path, model.tensors, metadata).bytes;

  const fs::path parent = fs::path(out_path).parent_path();
  exported.config_path =
      (parent.empty() ? fs::path("config.json") : parent / "config.json").string();
  write_file_atomically(exported.config_path, config_json.dump(2) + "\n");
  return exported;
}

int64_t import_safetensors(const std::string& path, const std::string& checkpoint_dir,
                           int64_t step) {
  SafetensorsFile file = load_safetensors(path);
  nlohmann::json model_config = nlohmann::json::object();
  GPTConfig{}.visit([&](const char* key, auto&, const char*) {
    model_config[key] = metadata_int(file.metadata, key, path);
  });
  const nlohmann::json meta = {{"model_config", model_config}, {"imported_from", path}};
  model_config_from_meta(meta, path);  // a bad config fails here, before anything is written
  if (step < 0) step = file.metadata.count("step") ? metadata_int(file.metadata, "step", path) : 0;
  if (step < 0)
    throw std::runtime_error(
        fmt::format("{}: __metadata__.step: expected a non-negative step, found {}", path, step));
  ModelData model_data;
  for (auto& [name, tensor] : file.tensors) model_data.insert(name, std::move(tensor));
  file.tensors.clear();
  save_new_step(checkpoint_dir, step, model_data, std::nullopt, meta);
  return step;
}

ExportedModel export_dcp(const std::string& checkpoint_dir, int64_t step,
                         const std::string& out_dir) {
  const ModelStep model = load_model_step(checkpoint_dir, step);
  ExportedModel exported;
  exported.step = model.step;
  exported.tensors = model.tensors.size();
  if (fs::exists(out_dir + "/.metadata"))
    throw std::runtime_error(
        fmt::format("{}: holds a DCP checkpoint already; export into a new directory", out_dir));
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot create '{}': {}", out_dir, ec.message()));

  exported.config_path = out_dir + "/model_config.json";
  write_file_atomically(exported.config_path, config_to_json(model.config).dump(2) + "\n");
  exported.bytes = save_dcp(out_dir, model.tensors);
  return exported;
}

ImportedDcp import_dcp(const std::string& dcp_dir, const std::string& checkpoint_dir, int64_t step,
                       const std::string& model_config_path) {
  const DcpMetadata metadata = read_dcp_metadata(dcp_dir);
  const std::string config_path =
      model_config_path.empty() ? dcp_dir + "/model_config.json" : model_config_path;
  if (!fs::exists(config_path))
    throw std::runtime_error(
        fmt::format("{}: the DCP directory carries no model_config.json; give --model_config FILE "
                    "(nanochat's model_config as JSON)",
                    dcp_dir));
  nlohmann::json model_config;
  try {
    model_config = nlohmann::json::parse(std::ifstream(config_path));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{}: not JSON: {}", config_path, e.what()));
  }
  const nlohmann::json meta = {{"model_config", model_config}, {"imported_from", dcp_dir}};
  const GPTConfig config = model_config_from_meta(meta, config_path);
  const ParameterShapes shapes = parameter_shapes(GPT(config));

  ImportedDcp imported;
  imported.step = step >= 0 ? step : 0;
  std::map<std::string, const DcpEntry*> taken;
  for (const DcpEntry& entry : metadata.entries) {
    const std::string name = parameter_name(strip_prefix(entry.fqn, "model."));
    if (!entry.is_tensor || !shapes.count(name)) {
      imported.skipped.push_back(entry.fqn);
    } else if (!taken.emplace(name, &entry).second) {
      throw std::runtime_error(fmt::format("{}: '{}' and '{}' are both parameter {}", metadata.path,
                                           taken[name]->fqn, entry.fqn, name));
    }
  }
  std::vector<std::string> missing, mis_shaped;
  for (const auto& [name, shape] : shapes) {
    auto it = taken.find(name);
    if (it == taken.end())
      missing.push_back(name);
    else if (it->second->size != shape)
      mis_shaped.push_back(fmt::format("{} (expected ({}), found ({}))", it->second->fqn,
                                       fmt::join(shape, ", "), fmt::join(it->second->size, ", ")));
  }
  if (!missing.empty() || !mis_shaped.empty())
    throw std::runtime_error(fmt::format(
        "{}: does not hold the model {} describes: missing [{}], mis-shaped [{}]; its keys "
        "include [{}]",
        metadata.path, config_path, fmt::join(missing, ", "), fmt::join(mis_shaped, ", "),
        fmt::join(imported.skipped.begin(),
                  imported.skipped.begin() +
                      static_cast<std::ptrdiff_t>(std::min<size_t>(imported.skipped.size(), 8)),
                  ", ")));
  ModelData model_data;  // in the directory's order, one tensor read at a time
  for (const DcpEntry& entry : metadata.entries) {
    const std::string name = parameter_name(strip_prefix(entry.fqn, "model."));
    if (auto it = taken.find(name); it != taken.end() && it->second == &entry)
      model_data.insert(name, load_dcp_tensor(dcp_dir, entry));
  }
  imported.tensors = taken.size();
  save_new_step(checkpoint_dir, imported.step, model_data, std::nullopt, meta);
  return imported;
}

int64_t export_gathered(const std::string& checkpoint_dir, int64_t step,
                        const std::string& out_dir) {
  if (step < 0) step = find_last_step(checkpoint_dir);
  CheckpointData data = load_checkpoint(checkpoint_dir, step, torch::kCPU, /*load_optimizer=*/true);
  c10::IValue optimizer_data;
  if (data.optimizer_data) {
    optimizer_data = *data.optimizer_data;
  } else {
    // Merging needs the parameters' shapes and the optimizers' split of them.
    const std::string meta_path = checkpoint_dir + "/" + meta_file_name(step);
    const GPT model(model_config_from_meta(data.meta_data, meta_path));
    optimizer_data =
        setup_optimizers(model, OptimizerConfig{})
            .merge_shard_state_dicts(data.optimizer_shards,
                                     checkpoint_dir + "/" + rank_optim_file_pattern(step));
  }
  nlohmann::json meta = data.meta_data;
  for (const char* key : {"files", "optim_shards", "format_version", "created"}) meta.erase(key);
  save_new_step(out_dir, step, data.model_data, optimizer_data, meta);
  return step;
}

}  // namespace nt
