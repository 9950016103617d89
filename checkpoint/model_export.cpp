// Export and import through the safetensors format. The model config travels inside the
// .safetensors file, so an import needs nothing else; config.json is for the tools that look
// for one beside the weights.
#include "checkpoint/model_export.h"

#include <fmt/format.h>

#include <filesystem>

#include "checkpoint/atomic_file.h"
#include "checkpoint/checkpoint_manager.h"
#include "checkpoint/dir_lock.h"
#include "checkpoint/layout.h"
#include "checkpoint/meta.h"
#include "checkpoint/safetensors.h"
#include "runtime/config_io.h"

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

}  // namespace

ExportedModel export_safetensors(const std::string& checkpoint_dir, int64_t step,
                                 const std::string& out_path) {
  ExportedModel exported;
  exported.step = step >= 0 ? step : find_last_step(checkpoint_dir);
  const CheckpointData data = load_checkpoint(checkpoint_dir, exported.step, torch::kCPU);
  const std::string meta_path = checkpoint_dir + "/" + meta_file_name(exported.step);
  const GPTConfig config = model_config_from_meta(data.meta_data, meta_path);

  SafetensorsMetadata metadata = {{"format", "pt"}, {"step", std::to_string(exported.step)}};
  const nlohmann::ordered_json config_json = config_to_json(config);
  for (const auto& [key, value] : config_json.items()) metadata[key] = value.dump();
  NamedTensors tensors;
  for (const auto& item : data.model_data) tensors.emplace_back(item.key(), item.value());
  exported.tensors = tensors.size();
  exported.bytes = save_safetensors(out_path, tensors, metadata).bytes;

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
  GPTConfig{}.visit(
      [&](const char* key, auto&) { model_config[key] = metadata_int(file.metadata, key, path); });
  const nlohmann::json meta = {{"model_config", model_config}, {"imported_from", path}};
  model_config_from_meta(meta, path);  // a bad config fails here, before anything is written
  if (step < 0) step = file.metadata.count("step") ? metadata_int(file.metadata, "step", path) : 0;
  if (step < 0)
    throw std::runtime_error(
        fmt::format("{}: __metadata__.step: expected a non-negative step, found {}", path, step));
  // A training job may be writing the directory (and save_checkpoint removes what it finds
  // incomplete): take its lock, and never replace a step that is already there.
  DirLock lock(checkpoint_dir);
  if (fs::exists(checkpoint_dir + "/" + meta_file_name(step)))
    throw std::runtime_error(
        fmt::format("{}: step {} exists already; import into another "
                    "directory or give another --step",
                    checkpoint_dir, step));
  ModelData model_data;
  for (auto& [name, tensor] : file.tensors) model_data.insert(name, std::move(tensor));
  file.tensors.clear();
  save_checkpoint(checkpoint_dir, step, model_data, std::nullopt, meta);
  return step;
}

}  // namespace nt
