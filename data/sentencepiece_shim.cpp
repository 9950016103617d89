// libnanotrain_sentencepiece.so: sentencepiece behind the C interface of sentencepiece_api.h.
// Nothing here may throw across the boundary; every failure becomes an error string.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/sentencepiece_api.h"

struct NtSpm {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

char* copy_out(const std::string& text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out) std::memcpy(out, text.c_str(), text.size() + 1);
  return out;
}

int fail(char** error, const std::string& message) {
  if (error) *error = copy_out(message);
  return 1;
}

class CallbackIterator : public sentencepiece::SentenceIterator {
 public:
  CallbackIterator(int (*next_line)(void*, const char**, size_t*), void* context)
      : next_line_(next_line), context_(context) {
    Next();
  }
  bool done() const override { return done_; }
  void Next() override {
    const char* line = nullptr;
    size_t length = 0;
    done_ = next_line_(context_, &line, &length) == 0;
    if (!done_) line_.assign(line, length);
  }
  const std::string& value() const override { return line_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  int (*next_line_)(void*, const char**, size_t*);
  void* context_;
  std::string line_;
  bool done_ = false;
};

}  // namespace

extern "C" {

int nt_spm_train(const char* const* args, size_t num_args,
                 int (*next_line)(void*, const char**, size_t*), void* context, char** proto,
                 size_t* proto_length, char** error) {
  try {
    std::unordered_map<std::string, std::string> options;
    for (size_t i = 0; i < num_args; ++i) {
      const std::string arg = args[i];
      const size_t eq = arg.find('=');
      if (eq == std::string::npos) return fail(error, "trainer option without '=': " + arg);
      options[arg.substr(0, eq)] = arg.substr(eq + 1);
    }
    CallbackIterator lines(next_line, context);
    std::string model;
    const auto status = sentencepiece::SentencePieceTrainer::Train(options, &lines, &model);
    if (!status.ok()) return fail(error, status.ToString());
    *proto = static_cast<char*>(std::malloc(model.size()));
    if (!*proto) return fail(error, "out of memory");
    std::memcpy(*proto, model.data(), model.size());
    *proto_length = model.size();
    return 0;
  } catch (const std::exception& e) {
    return fail(error, e.what());
  }
}

NtSpm* nt_spm_load(const char* proto, size_t length, char** error) {
  auto* model = new (std::nothrow) NtSpm;
  if (!model) {
    fail(error, "out of memory");
    return nullptr;
  }
  const auto status = model->processor.LoadFromSerializedProto(std::string(proto, length));
  if (!status.ok()) {
    fail(error, status.ToString());
    delete model;
    return nullptr;
  }
  return model;
}

void nt_spm_destroy(NtSpm* model) {
  delete model;
}

int nt_spm_piece_size(const NtSpm* model) {
  return model->processor.GetPieceSize();
}

int nt_spm_piece_to_id(const NtSpm* model, const char* piece, size_t length) {
  const int id = model->processor.PieceToId(std::string(piece, length));
  return model->processor.IsUnknown(id) &&
                 model->processor.IdToPiece(id) != std::string(piece, length)
             ? -1
             : id;
}

const char* nt_spm_id_to_piece(const NtSpm* model, int id, size_t* length, int* kind) {
  const auto& sp = model->processor;
  const std::string& piece = sp.IdToPiece(id);
  *length = piece.size();
  *kind = sp.IsUnknown(id)   ? kNtSpmUnknown
          : sp.IsControl(id) ? kNtSpmControl
          : sp.IsByte(id)    ? kNtSpmByte
                             : kNtSpmNormal;
  return piece.c_str();
}

int nt_spm_encode(const NtSpm* model, const char* text, size_t length, int** ids, size_t* num_ids,
                  char** error) {
  std::vector<int> out;
  const auto status = model->processor.Encode(std::string(text, length), &out);
  if (!status.ok()) return fail(error, status.ToString());
  *ids = static_cast<int*>(std::malloc(std::max<size_t>(out.size(), 1) * sizeof(int)));
  if (!*ids) return fail(error, "out of memory");
  std::memcpy(*ids, out.data(), out.size() * sizeof(int));
  *num_ids = out.size();
  return 0;
}

int nt_spm_decode(const NtSpm* model, const int* ids, size_t num_ids, char** text, size_t* length,
                  char** error) {
  std::string out;
  const auto status = model->processor.Decode(std::vector<int>(ids, ids + num_ids), &out);
  if (!status.ok()) return fail(error, status.ToString());
  *text = static_cast<char*>(std::malloc(out.size() + 1));
  if (!*text) return fail(error, "out of memory");
  std::memcpy(*text, out.data(), out.size());
  *length = out.size();
  return 0;
}

void nt_spm_free(void* pointer) {
  std::free(pointer);
}

}  // extern "C"
