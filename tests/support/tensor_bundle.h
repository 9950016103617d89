// Reads the tensor bundles written by tests/reference/make_reference.py: the safetensors layout
// (u64 little-endian header length, JSON header {name: {dtype, shape, data_offsets}}, raw data).
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>

#include "model/config.h"

namespace nt::testing {

class TensorBundle {
 public:
  // Loads `name` (e.g. "gpt.safetensors") from the reference directory the build configured.
  static TensorBundle load_reference(const std::string& name);
  explicit TensorBundle(const std::string& path);

  // Throws std::out_of_range naming the tensor if the bundle lacks it.
  const torch::Tensor& at(const std::string& name) const;

 private:
  std::string path_;
  std::map<std::string, torch::Tensor> tensors_;
};

// Copies bundle tensors named prefix + parameter name into every parameter of `module`.
void load_parameters(torch::nn::Module& module, const TensorBundle& bundle,
                     const std::string& prefix);

// The GPT shape make_reference.py uses: sequence_len 16, vocab 100 (padded to 128), 2 layers,
// 4 query heads over 2 KV heads (GQA), width 64.
GPTConfig reference_config();

// Where the test fixtures put their files (reference bundles, the KJV text).
std::string test_data_dir();

}  // namespace nt::testing
