// Generator states travel as hex: JSON has no bytes type, and hex is trivial to read from
// Python (torch.set_rng_state(torch.tensor(list(bytes.fromhex(s)), dtype=torch.uint8))).
#include "runtime/rng_state.h"

#include <ATen/Context.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <mutex>
#include <stdexcept>

namespace nt {
namespace {

std::string to_hex(const torch::Tensor& bytes) {
  static const char* kDigits = "0123456789abcdef";
  const auto* p = bytes.data_ptr<uint8_t>();
  std::string out(2 * bytes.numel(), '0');
  for (int64_t i = 0; i < bytes.numel(); ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 15];
  }
  return out;
}

torch::Tensor from_hex(const std::string& hex, const std::string& where) {
  auto digit = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw std::runtime_error(fmt::format("{}: expected hex digits, found '{}'", where, c));
  };
  if (hex.size() % 2 != 0)
    throw std::runtime_error(fmt::format("{}: odd number of hex digits ({})", where, hex.size()));
  auto bytes = torch::empty({static_cast<int64_t>(hex.size() / 2)}, torch::kUInt8);
  auto* p = bytes.data_ptr<uint8_t>();
  for (size_t i = 0; i < hex.size() / 2; ++i)
    p[i] = static_cast<uint8_t>(digit(hex[2 * i]) * 16 + digit(hex[2 * i + 1]));
  return bytes;
}

at::Generator cuda_generator() {
  return at::globalContext().defaultGenerator(at::Device(at::kCUDA));
}

torch::Tensor get_state(at::Generator generator) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void set_state(at::Generator generator, const std::string& hex, const std::string& where) {
  const auto bytes = from_hex(hex, where);
  std::lock_guard<std::mutex> lock(generator.mutex());
  const auto expected = generator.get_state().numel();
  if (bytes.numel() != expected)
    throw std::runtime_error(fmt::format("{}: expected a {}-byte generator state, found {} bytes",
                                         where, expected, bytes.numel()));
  generator.set_state(bytes);
}

}  // namespace

nlohmann::json rng_state_to_json() {
  nlohmann::json state = {{"cpu", to_hex(get_state(at::detail::getDefaultCPUGenerator()))}};
  if (torch::cuda::is_available()) state["cuda"] = to_hex(get_state(cuda_generator()));
  return state;
}

void restore_rng_state(const nlohmann::json& state, const std::string& where) {
  auto hex_at = [&](const char* key) {
    const auto& value = state.at(key);
    if (!value.is_string())
      throw std::runtime_error(fmt::format("{}: rng_state.{}: expected a hex string, found {}",
                                           where, key, value.type_name()));
    return value.get<std::string>();
  };
  if (!state.is_object() || !state.contains("cpu"))
    throw std::runtime_error(fmt::format("{}: rng_state: expected an object with \"cpu\"", where));
  set_state(at::detail::getDefaultCPUGenerator(), hex_at("cpu"), where + ": rng_state.cpu");
  if (state.contains("cuda") && torch::cuda::is_available())
    set_state(cuda_generator(), hex_at("cuda"), where + ": rng_state.cuda");
}

}  // namespace nt
