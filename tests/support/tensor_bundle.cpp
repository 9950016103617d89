// The bundle reader: the reference files are safetensors, read by nanotrain's own reader.
#include "tests/support/tensor_bundle.h"

#include <stdexcept>

#include "serialize/safetensors.h"

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
  for (auto& [name, tensor] : load_safetensors(path).tensors) tensors_[name] = std::move(tensor);
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
