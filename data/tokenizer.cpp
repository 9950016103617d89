// The byte-level tokenizer.
#include "data/tokenizer.h"

#include <fmt/format.h>

#include <stdexcept>

namespace nt {

std::vector<int64_t> ByteTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  ids.reserve(text.size());
  for (unsigned char c : text) ids.push_back(c);
  return ids;
}

std::string ByteTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string text;
  for (int64_t id : ids) {
    if (id == bos_token_id()) {
      text += "<|bos|>";
    } else if (id >= 0 && id < 256) {
      text += static_cast<char>(id);
    } else {
      throw std::invalid_argument(
          fmt::format("token id {} is outside the vocabulary [0, {})", id, vocab_size()));
    }
  }
  return text;
}

std::unique_ptr<Tokenizer> get_tokenizer() {
  return std::make_unique<ByteTokenizer>();
}

}  // namespace nt
