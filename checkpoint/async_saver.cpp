// Background checkpoint writes. The snapshot is a real copy, so the training step that follows
// may update parameters and optimizer state in place while the writer reads the old values.
#include "checkpoint/async_saver.h"

#include <fmt/format.h>

#include <iostream>
#include <stdexcept>

#include "checkpoint/flat_ivalue.h"

namespace nt {

std::string save_failure(int64_t step, const std::string& what) {
  return fmt::format("checkpoint of step {} failed: {}", step, what);
}

c10::IValue copy_to_host(const c10::IValue& value) {
  return map_tensors(value, [](const at::Tensor& t) {
    return t.to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true);
  });
}

namespace {

ModelData copy_model_to_host(const ModelData& model_data) {
  ModelData copy;
  for (const auto& item : model_data)
    copy.insert(item.key(), item.value().to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true));
  return copy;
}

}  // namespace

AsyncSaver::~AsyncSaver() {
  try {
    wait();
  } catch (const std::exception& e) {
    std::cerr << "asynchronous checkpoint save failed: " << e.what() << "\n";
  }
}

void AsyncSaver::save(const std::string& checkpoint_dir, int64_t step, const ModelData& model_data,
                      const std::optional<c10::IValue>& optimizer_data,
                      const nlohmann::json& meta_data, int rank, int world_size) {
  wait();
  require_rank_zero("save_checkpoint", rank);
  ModelData model_copy = copy_model_to_host(model_data);
  std::optional<c10::IValue> optimizer_copy;
  if (optimizer_data) optimizer_copy = copy_to_host(*optimizer_data);
  worker_ = std::thread([this, checkpoint_dir, step, model_copy = std::move(model_copy),
                         optimizer_copy = std::move(optimizer_copy), meta_data, world_size] {
    try {
      save_checkpoint(checkpoint_dir, step, model_copy, optimizer_copy, meta_data, 0, world_size);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = std::current_exception();
      error_step_ = step;
    }
  });
}

void AsyncSaver::wait() {
  if (worker_.joinable()) worker_.join();
  std::exception_ptr error;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::swap(error, error_);
  }
  if (error) std::rethrow_exception(error);
}

std::string AsyncSaver::take_error() {
  if (worker_.joinable()) worker_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  if (!error_) return "";
  std::string what = "unknown error";
  try {
    std::rethrow_exception(error_);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  error_ = nullptr;
  return save_failure(error_step_, what);
}

AsyncShardWriter::~AsyncShardWriter() {
  if (worker_.joinable()) worker_.join();
}

void AsyncShardWriter::start(const std::string& checkpoint_dir, int64_t step,
                             const ModelData& model_data, const c10::IValue& optimizer_shard,
                             nlohmann::json meta_data, int rank) {
  if (in_flight())
    throw std::logic_error(fmt::format("AsyncShardWriter: step {} is still being written", step_));
  ModelData model_copy = rank == 0 ? copy_model_to_host(model_data) : ModelData();
  c10::IValue shard_copy = copy_to_host(optimizer_shard);
  step_ = step;
  meta_ = std::move(meta_data);
  done_ = false;
  worker_ = std::thread([this, checkpoint_dir, step, rank, model_copy = std::move(model_copy),
                         shard_copy = std::move(shard_copy)] {
    result_ = write_shard(checkpoint_dir, step, model_copy, shard_copy, rank);
    done_ = true;
  });
}

ShardWrite AsyncShardWriter::take() {
  if (worker_.joinable()) worker_.join();
  done_ = false;
  return std::move(result_);
}

}  // namespace nt
