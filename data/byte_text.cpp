// Byte tokens and sequential batches for the built-in corpus path.
#include "data/byte_text.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace nt {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot open text file '{}'", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw std::runtime_error(fmt::format("error reading text file '{}'", path));
  return text.str();
}

torch::Tensor encode_bytes(const std::string& text) {
  auto ids = torch::empty({static_cast<int64_t>(text.size()) + 1}, torch::kInt64);
  auto* out = ids.data_ptr<int64_t>();
  out[0] = kByteBosToken;
  for (size_t i = 0; i < text.size(); ++i) out[i + 1] = static_cast<unsigned char>(text[i]);
  return ids;
}

SequentialBatcher::SequentialBatcher(torch::Tensor tokens, int64_t batch_size, int64_t seq_len,
                                     int rank, int world_size)
    : tokens_(std::move(tokens)),
      batch_size_(batch_size),
      seq_len_(seq_len),
      rank_(rank),
      world_size_(world_size) {
  const int64_t needed = world_size_ * batch_size_ * seq_len_ + 1;
  if (tokens_.dim() != 1 || tokens_.size(0) < needed)
    throw std::invalid_argument(
        fmt::format("corpus too small: {} ranks x a batch of {} x {} need {} tokens, found {}",
                    world_size_, batch_size_, seq_len_, needed, tokens_.numel()));
}

void SequentialBatcher::set_position(int64_t position) {
  if (position < 0 || position >= tokens_.size(0))
    throw std::invalid_argument(fmt::format("data position {} is outside the corpus of {} tokens",
                                            position, tokens_.size(0)));
  position_ = position;
}

std::pair<torch::Tensor, torch::Tensor> SequentialBatcher::next() {
  const int64_t span = batch_size_ * seq_len_;
  if (position_ + world_size_ * span + 1 > tokens_.size(0)) position_ = 0;
  auto window = tokens_.narrow(0, position_ + rank_ * span, span + 1);
  position_ += world_size_ * span;
  auto inputs = window.narrow(0, 0, span).view({batch_size_, seq_len_});
  auto targets = window.narrow(0, 1, span).view({batch_size_, seq_len_});
  return {inputs, targets};
}

}  // namespace nt
