// Fuzz target: meta_{step}.json files. Any text must either pass parse_meta (and then yield a
// model config or a clear error) or throw std::runtime_error; nothing else may escape.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "checkpoint/meta.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto meta = nt::parse_meta(text, "fuzz/meta_000001.json");
    nt::model_config_from_meta(meta, "fuzz/meta_000001.json");
  } catch (const std::runtime_error&) {
  }
  return 0;
}
