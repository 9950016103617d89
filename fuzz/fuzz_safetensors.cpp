// Fuzz target: safetensors headers (`parse_safetensors_header`). The first 4 bytes give the
// size of the data section the header must describe, the rest is the header's JSON text; any
// input must give a header whose entries tile that data section, or a std::runtime_error.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "serialize/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  uint32_t data_bytes = 0;
  std::memcpy(&data_bytes, data, 4);
  const std::string json_text(reinterpret_cast<const char*>(data) + 4, size - 4);
  try {
    const auto header = nt::parse_safetensors_header(json_text, data_bytes, "fuzz.safetensors");
    uint64_t covered = 0;
    for (const auto& entry : header.tensors) {
      if (entry.begin != covered || entry.end < entry.begin) __builtin_trap();
      covered = entry.end;
    }
    if (covered != data_bytes) __builtin_trap();
  } catch (const std::runtime_error&) {
  }
  return 0;
}
