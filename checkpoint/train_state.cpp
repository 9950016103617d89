// TrainState <-> meta. The key names are nanochat's (loop_state, dataloader_state_dict) where it
// has them, so that its tools read nanotrain's metas too.
#include "checkpoint/train_state.h"

#include <fmt/format.h>

#include <stdexcept>

#include "checkpoint/meta.h"

namespace nt {
namespace {

// object[key] as an integer; throws naming `where` and `path`.
int64_t required_integer(const nlohmann::json& object, const char* key, const std::string& where,
                         const std::string& path) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer())
    throw std::runtime_error(
        fmt::format("{}: cannot resume: key '{}.{}': expected an integer, found {}", where, path,
                    key, it == object.end() ? "nothing" : it->dump()));
  return it->get<int64_t>();
}

// object[key] as a number; `fallback` when absent or null (Python's inf and nan read as null).
double number_or(const nlohmann::json& object, const char* key, double fallback,
                 const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_number())
    throw std::runtime_error(fmt::format("{}: cannot resume: key '{}': expected a number, found {}",
                                         where, key, it->dump()));
  return it->get<double>();
}

}  // namespace

void write_train_state(const TrainState& state, int world_size, nlohmann::json& meta) {
  meta["val_bpb"] = state.val_bpb;
  meta["loop_state"] = {{"step", state.step},
                        {"total_training_time", state.total_training_time},
                        {"smooth_train_loss", state.smooth_train_loss},
                        {"min_val_bpb", state.min_val_bpb}};
  if (state.data)
    meta["dataloader_state_dict"] = {{"shard", state.data->shard},
                                     {"position", state.data->position},
                                     {"epoch", state.data->epoch},
                                     {"world_size", world_size}};
  if (!state.rng_state.is_null()) meta["rng_state"] = state.rng_state;
}

TrainState read_train_state(const nlohmann::json& meta, const std::string& where) {
  const bool nanotrain = has_commit_record(meta);
  const auto version = meta.value("format_version", nlohmann::json());
  if (nanotrain && !(version.is_number_integer() && version.get<int64_t>() >= 1))
    throw std::runtime_error(
        fmt::format("{}: cannot resume: key 'format_version': expected an integer >= 1, found {}",
                    where, version.dump()));
  if (nanotrain && version.get<int64_t>() > kMetaFormatVersion)
    throw std::runtime_error(fmt::format(
        "{}: cannot resume: format_version {} was written by a newer nanotrain (this one reads "
        "up to {})",
        where, version.get<int64_t>(), kMetaFormatVersion));

  TrainState state;
  state.step = meta.at("step").get<int64_t>();  // read_meta checked it
  state.val_bpb = number_or(meta, "val_bpb", -1.0, where);
  const auto loop = meta.find("loop_state");
  if (loop != meta.end() && !loop->is_object())
    throw std::runtime_error(fmt::format(
        "{}: cannot resume: key 'loop_state': expected an object, found {}", where, loop->dump()));
  if (nanotrain && loop == meta.end())
    throw std::runtime_error(fmt::format("{}: cannot resume: key 'loop_state' is missing", where));
  if (loop != meta.end()) {
    state.total_training_time = number_or(*loop, "total_training_time", 0.0, where);
    state.smooth_train_loss = number_or(*loop, "smooth_train_loss", 0.0, where);
    state.min_val_bpb = number_or(*loop, "min_val_bpb", -1.0, where);
  }
  if (!nanotrain) return state;

  const auto data = meta.find("dataloader_state_dict");
  if (data == meta.end() || !data->is_object())
    throw std::runtime_error(
        fmt::format("{}: cannot resume: key 'dataloader_state_dict': expected an object, found {}",
                    where, data == meta.end() ? "nothing" : data->dump()));
  const char* path = "dataloader_state_dict";
  state.data = LoaderState{required_integer(*data, "shard", where, path),
                           required_integer(*data, "position", where, path),
                           required_integer(*data, "epoch", where, path)};
  state.rng_state = meta.value("rng_state", nlohmann::json());
  return state;
}

}  // namespace nt
