// The bundle reader: enough of safetensors for F32, I64 and BF16 reference tensors.
#include "tests/support/tensor_bundle.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace nt::testing {

GPTConfig reference_config() {
  GPTConfig c;
  c.sequence_len = 16;
  c.vocab_size = 100;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.n_embd = 64;
  return c;
}

std::string test_data_dir() {
  return NANOTRAIN_TEST_DATA_DIR;
}

TensorBundle TensorBundle::load_reference(const std::string& name) {
  return TensorBundle(test_data_dir() + "/reference/" + name);
}

TensorBundle::TensorBundle(const std::string& path) : path_(path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open reference bundle " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string bytes = buffer.str();
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), sizeof(header_len));
  const auto header = nlohmann::json::parse(bytes.substr(8, header_len));
  const char* data = bytes.data() + 8 + header_len;
  for (const auto& [name, entry] : header.items()) {
    const std::string dtype = entry.at("dtype");
    const auto type = dtype == "F32"   ? torch::kFloat32
                      : dtype == "I64" ? torch::kInt64
                                       : torch::kBFloat16;
    const auto shape = entry.at("shape").get<std::vector<int64_t>>();
    const auto offsets = entry.at("data_offsets").get<std::vector<size_t>>();
    auto t = torch::empty(shape, type);
    std::memcpy(t.data_ptr(), data + offsets[0], offsets[1] - offsets[0]);
    tensors_[name] = t;
  }
}

const torch::Tensor& TensorBundle::at(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw std::out_of_range(path_ + " has no tensor " + name);
  return it->second;
}

void load_parameters(torch::nn::Module& module, const TensorBundle& bundle,
                     const std::string& prefix) {
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters()) item.value().copy_(bundle.at(prefix + item.key()));
}

}  // namespace nt::testing
