// Fuzz target: the pickle interpreter that reads torch.save files and DCP's .metadata, each
// input read both ways. Storages are served as zero tensors of the size asked for (up to 1 MiB,
// else the loader refuses, as a real archive whose record is shorter would); any input must give
// a value or a std::runtime_error.
#include <ATen/ATen.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include <string>

#include "serialize/dcp.h"
#include "serialize/pickle_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nt::StorageLoader zeros = [](const std::string& key, at::ScalarType dtype, int64_t numel) {
    if (numel > (int64_t{1} << 20) / 8)
      throw std::runtime_error("fuzz: storage '" + key + "' larger than the record");
    return at::zeros({numel}, at::TensorOptions().dtype(dtype));
  };
  try {
    nt::unpickle(reinterpret_cast<const char*>(data), size, zeros, "fuzz.pt");
  } catch (const std::runtime_error&) {
  }
  try {
    nt::parse_dcp_metadata(std::string(reinterpret_cast<const char*>(data), size), ".metadata");
  } catch (const std::runtime_error&) {
  }
  return 0;
}
