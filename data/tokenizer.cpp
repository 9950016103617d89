// The sentencepiece tokenizer: training options chosen so that text round-trips exactly
// (identity normalization, no dummy prefix, whitespace kept, byte fallback) and nanochat's
// special tokens get fixed ids right after <unk>. sentencepiece itself is reached through
// libnanotrain_sentencepiece.so (see sentencepiece_api.h for why it is loaded by hand).
#include "data/tokenizer.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "data/sentencepiece_api.h"
#include "runtime/environment.h"
#include "serialize/crc32c.h"

namespace nt {

const std::vector<std::string> kSpecialTokens = {
    "<|bos|>",           "<|user_start|>",   "<|user_end|>",   "<|assistant_start|>",
    "<|assistant_end|>", "<|python_start|>", "<|python_end|>", "<|output_start|>",
    "<|output_end|>"};

namespace {

constexpr const char* kLibraryName = "libnanotrain_sentencepiece.so";

// The shim's functions, resolved once per process.
struct SentencePieceLibrary {
  decltype(&nt_spm_train) train;
  decltype(&nt_spm_load) load;
  decltype(&nt_spm_destroy) destroy;
  decltype(&nt_spm_piece_size) piece_size;
  decltype(&nt_spm_piece_to_id) piece_to_id;
  decltype(&nt_spm_id_to_piece) id_to_piece;
  decltype(&nt_spm_encode) encode;
  decltype(&nt_spm_decode) decode;
  decltype(&nt_spm_free) free;
};

// The shim sits beside the executable (build/bin, or an install's bin); NANOTRAIN_LIBDIR
// overrides where to look.
std::string library_path() {
  if (const std::string dir = library_dir_override(); !dir.empty()) return dir + "/" + kLibraryName;
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  std::string dir = n > 0 ? std::string(exe, n) : std::string(".");
  dir = dir.substr(0, dir.rfind('/'));
  return dir + "/" + kLibraryName;
}

const SentencePieceLibrary& library() {
  static SentencePieceLibrary lib;
  static std::once_flag once;
  std::call_once(once, [] {
    const std::string path = library_path();
    // A fresh link namespace: the library's protobuf copy can never meet LibTorch's (see
    // sentencepiece_api.h).
    void* handle = dlmopen(LM_ID_NEWLM, path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle)
      throw std::runtime_error(fmt::format("cannot load the tokenizer library: {}", dlerror()));
    auto resolve = [&](auto& field, const char* name) {
      field = reinterpret_cast<std::decay_t<decltype(field)>>(dlsym(handle, name));
      if (!field) throw std::runtime_error(fmt::format("{}: missing symbol {}", path, name));
    };
    resolve(lib.train, "nt_spm_train");
    resolve(lib.load, "nt_spm_load");
    resolve(lib.destroy, "nt_spm_destroy");
    resolve(lib.piece_size, "nt_spm_piece_size");
    resolve(lib.piece_to_id, "nt_spm_piece_to_id");
    resolve(lib.id_to_piece, "nt_spm_id_to_piece");
    resolve(lib.encode, "nt_spm_encode");
    resolve(lib.decode, "nt_spm_decode");
    resolve(lib.free, "nt_spm_free");
  });
  return lib;
}

// An error string from the shim, released after copying.
std::string take_error(char* error) {
  std::string message = error ? error : "unknown error";
  library().free(error);
  return message;
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

}  // namespace

struct Tokenizer::Impl {
  NtSpm* model = nullptr;
  std::string proto;
  std::vector<int64_t> special_ids;  // in kSpecialTokens order
  ~Impl() {
    if (model) library().destroy(model);
  }
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::train(const std::function<bool(std::string&)>& next_line,
                           const TokenizerTrainingOptions& options) {
  const int64_t reserved = 256 + 1 + static_cast<int64_t>(kSpecialTokens.size());
  if (options.vocab_size <= reserved)
    throw std::invalid_argument(fmt::format(
        "vocab_size: expected more than the {} byte, <unk> and special tokens, found {}", reserved,
        options.vocab_size));
  const std::vector<std::string> args = {
      "model_type=bpe",
      "vocab_size=" + std::to_string(options.vocab_size),
      "byte_fallback=true",
      "user_defined_symbols=" + join(kSpecialTokens, ","),
      "normalization_rule_name=identity",
      "add_dummy_prefix=false",
      "remove_extra_whitespaces=false",
      "allow_whitespace_only_pieces=true",
      "split_digits=true",
      "character_coverage=0.9999",
      "bos_id=-1",
      "eos_id=-1",
      "hard_vocab_limit=false",
      "input_sentence_size=" + std::to_string(options.max_sentences),
      "shuffle_input_sentence=true",
      "num_threads=" + std::to_string(options.threads),
      "minloglevel=1"};
  std::vector<const char*> argv;
  for (const auto& arg : args) argv.push_back(arg.c_str());
  struct Context {
    const std::function<bool(std::string&)>* next_line;
    std::string line;
  } context{&next_line, {}};
  auto feed = [](void* opaque, const char** line, size_t* length) -> int {
    auto* ctx = static_cast<Context*>(opaque);
    if (!(*ctx->next_line)(ctx->line)) return 0;
    *line = ctx->line.data();
    *length = ctx->line.size();
    return 1;
  };
  char *proto = nullptr, *error = nullptr;
  size_t proto_length = 0;
  if (library().train(argv.data(), argv.size(), feed, &context, &proto, &proto_length, &error))
    throw std::runtime_error("training the tokenizer failed: " + take_error(error));
  const std::string bytes(proto, proto_length);
  library().free(proto);
  return from_serialized(bytes, "the trained tokenizer");
}

Tokenizer Tokenizer::from_serialized(const std::string& proto, const std::string& source) {
  auto impl = std::make_unique<Impl>();
  char* error = nullptr;
  impl->model = library().load(proto.data(), proto.size(), &error);
  if (!impl->model)
    throw std::runtime_error(
        fmt::format("{}: not a sentencepiece model: {}", source, take_error(error)));
  impl->proto = proto;
  for (const auto& name : kSpecialTokens) {
    const int id = library().piece_to_id(impl->model, name.data(), name.size());
    if (id < 0)
      throw std::runtime_error(fmt::format(
          "{}: the special token {} is missing (train it with nanotrain prepare)", source, name));
    impl->special_ids.push_back(id);
  }
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_dir(const std::string& dir) {
  const std::string path = dir + "/" + kTokenizerFileName;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(
        fmt::format("no tokenizer at '{}' (run `nanotrain prepare` to train one)", path));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return from_serialized(bytes.str(), path);
}

int64_t Tokenizer::vocab_size() const {
  return library().piece_size(impl_->model);
}

int64_t Tokenizer::bos_token_id() const {
  return impl_->special_ids[0];
}

int64_t Tokenizer::special_token_id(const std::string& name) const {
  for (size_t i = 0; i < kSpecialTokens.size(); ++i)
    if (kSpecialTokens[i] == name) return impl_->special_ids[i];
  throw std::invalid_argument(fmt::format("'{}' is not a special token", name));
}

std::vector<int64_t> Tokenizer::encode(const std::string& text) const {
  int* ids = nullptr;
  size_t n = 0;
  char* error = nullptr;
  if (library().encode(impl_->model, text.data(), text.size(), &ids, &n, &error))
    throw std::runtime_error("tokenizer: encode failed: " + take_error(error));
  std::vector<int64_t> out(ids, ids + n);
  library().free(ids);
  return out;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  const int64_t vocab = vocab_size();
  std::vector<int> narrow;
  narrow.reserve(ids.size());
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab)
      throw std::invalid_argument(
          fmt::format("token id {} is outside the vocabulary [0, {})", id, vocab));
    narrow.push_back(static_cast<int>(id));
  }
  char *text = nullptr, *error = nullptr;
  size_t length = 0;
  if (library().decode(impl_->model, narrow.data(), narrow.size(), &text, &length, &error))
    throw std::runtime_error("tokenizer: decode failed: " + take_error(error));
  std::string out(text, length);
  library().free(text);
  return out;
}

std::vector<int32_t> Tokenizer::token_bytes() const {
  static const std::string kSpaceMarker = "\xe2\x96\x81";  // sentencepiece's U+2581 for ' '
  std::vector<int32_t> bytes(vocab_size(), 0);
  for (int id = 0; id < vocab_size(); ++id) {
    size_t length = 0;
    int kind = 0;
    const char* text = library().id_to_piece(impl_->model, id, &length, &kind);
    if (kind == kNtSpmUnknown || kind == kNtSpmControl) continue;
    if (kind == kNtSpmByte) {
      bytes[id] = 1;
      continue;
    }
    const std::string piece(text, length);
    int32_t n = 0;
    for (size_t i = 0; i < piece.size(); ++n)
      i += piece.compare(i, kSpaceMarker.size(), kSpaceMarker) == 0 ? kSpaceMarker.size() : 1;
    bytes[id] = n;
  }
  for (int64_t id : impl_->special_ids) bytes[id] = 0;
  return bytes;
}

std::string Tokenizer::serialized() const {
  return impl_->proto;
}

std::string Tokenizer::crc32c() const {
  return crc32c_hex(crc32c_extend(0, impl_->proto.data(), impl_->proto.size()));
}

std::string get_tokenizer_dir() {
  return get_base_dir() + "/tokenizer";
}

std::unique_ptr<Tokenizer> get_tokenizer() {
  return std::make_unique<Tokenizer>(Tokenizer::from_dir(get_tokenizer_dir()));
}

}  // namespace nt
