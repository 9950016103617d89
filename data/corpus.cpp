// Corpus readers. Line-wise inputs go through zlib's gz reader, which reads plain files as
// they are, so .jsonl and .jsonl.gz share one path. The KJV comes from the `bible` program of
// Debian's bible-kjv (its data files are in a private compressed format); each output line is
// "Ge1:1 In the beginning ...", and a new chapter reference starts a new document.
#include "data/corpus.h"

#include <fmt/format.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace nt {
namespace {

namespace fs = std::filesystem;

enum class FileKind { kText, kJsonLines, kLines };

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::char_traits<char>::length(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

bool is_json_lines(const std::string& path) {
  return ends_with(path, ".jsonl") || ends_with(path, ".jsonl.gz");
}

// How `path` is read: format "lines" reads every file line by line; "auto" reads JSON Lines by
// name and any other file whole.
FileKind file_kind(const std::string& path, const CorpusOptions& options) {
  if (options.format == "lines") return FileKind::kLines;
  return is_json_lines(path) ? FileKind::kJsonLines : FileKind::kText;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot open text file '{}'", path));
  in.seekg(0, std::ios::end);
  const auto size = static_cast<int64_t>(in.tellg());
  if (size > kMaxDocumentBytes)
    throw std::runtime_error(fmt::format("{}: a document of {} bytes, over the limit of {}", path,
                                         size, kMaxDocumentBytes));
  in.seekg(0);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw std::runtime_error(fmt::format("error reading text file '{}'", path));
  return text.str();
}

// Calls `line(text, number)` for each line of `path` (plain or gzip), without its newline.
void for_each_line(const std::string& path,
                   const std::function<void(const std::string&, int64_t)>& line) {
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(path.c_str(), "rb"), gzclose);
  if (!file) throw std::runtime_error(fmt::format("cannot open '{}'", path));
  gzbuffer(file.get(), 1 << 20);
  std::string current;
  std::vector<char> buf(1 << 16);
  int64_t number = 1;
  while (gzgets(file.get(), buf.data(), static_cast<int>(buf.size())) != nullptr) {
    current += buf.data();
    if (static_cast<int64_t>(current.size()) > kMaxDocumentBytes)
      throw std::runtime_error(
          fmt::format("{}:{}: a line of over {} bytes", path, number, kMaxDocumentBytes));
    if (current.back() != '\n') continue;  // longer than the buffer, or the last line
    current.pop_back();
    if (!current.empty() && current.back() == '\r') current.pop_back();  // CRLF files
    line(current, number++);
    current.clear();
  }
  int error = Z_OK;
  const char* message = gzerror(file.get(), &error);
  if (error != Z_OK && error != Z_STREAM_END)
    throw std::runtime_error(fmt::format("{}:{}: cannot read: {}", path, number, message));
  if (!current.empty()) line(current, number);
}

// The document of one JSON line: its text field, which must be a string.
std::string json_line_text(const std::string& line, const std::string& field,
                           const std::string& path, int64_t number) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{}:{}: not a JSON line: {}", path, number, e.what()));
  }
  const auto it = j.is_object() ? j.find(field) : j.end();
  if (!j.is_object() || it == j.end() || !it->is_string())
    throw std::runtime_error(fmt::format(
        "{}:{}: expected an object with a string field '{}' (--text_field)", path, number, field));
  return it->get<std::string>();
}

std::vector<std::string> input_files(const std::string& input) {
  std::error_code ec;
  if (!fs::is_directory(input, ec)) {
    if (!fs::exists(input, ec))
      throw std::runtime_error(fmt::format("input '{}' does not exist", input));
    return {input};
  }
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(input)) {
    const std::string path = entry.path().string();
    if (entry.is_regular_file() && (ends_with(path, ".txt") || is_json_lines(path)))
      files.push_back(path);
  }
  if (files.empty())
    throw std::runtime_error(
        fmt::format("input directory '{}' holds no .txt, .jsonl or .jsonl.gz file", input));
  std::sort(files.begin(), files.end());
  return files;
}

void for_each_kjv_chapter(const std::function<void(const std::string&)>& document) {
  std::string program;
  for (const char* path : {"/usr/games/bible", "/usr/bin/bible"})
    if (fs::exists(path)) program = path;
  if (program.empty())
    throw std::runtime_error(
        "the default corpus is the KJV Bible from Debian's bible-kjv, and its `bible` program is "
        "not installed (apt-get install bible-kjv), or name text files with --input");
  const std::string command = program + " -f Gen1:1-Rev22:21";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("cannot run '" + command + "'");
  std::string chapter, current, line;
  char buf[4096];
  auto flush = [&] {
    if (!current.empty()) document(current);
    current.clear();
  };
  while (fgets(buf, sizeof(buf), pipe.get())) {
    line += buf;
    if (line.back() != '\n' && !feof(pipe.get())) continue;  // a line longer than the buffer
    const std::string reference = line.substr(0, line.find(':'));
    if (reference != chapter) {
      flush();
      chapter = reference;
    }
    current += line;
    line.clear();
  }
  flush();
  if (pclose(pipe.release()) != 0 || chapter.empty())
    throw std::runtime_error("'" + command + "' failed or printed nothing");
}

}  // namespace

void CorpusOptions::validate() const {
  if (format != "auto" && format != "lines")
    throw std::invalid_argument(
        fmt::format("input_format: expected auto or lines, found '{}'", format));
  if (text_field.empty())
    throw std::invalid_argument("text_field: expected a field name, found an empty string");
}

CorpusCounts for_each_document(const std::vector<std::string>& inputs, const CorpusOptions& options,
                               const std::function<void(const std::string&)>& document) {
  CorpusCounts counts;
  auto emit = [&](const std::string& text) {
    if (text.empty()) {
      ++counts.empty_skipped;
      return;
    }
    ++counts.documents;
    document(text);
  };
  if (inputs.empty()) {
    for_each_kjv_chapter(emit);
    return counts;
  }
  for (const auto& input : inputs)
    for (const auto& path : input_files(input)) {
      switch (file_kind(path, options)) {
        case FileKind::kText:
          emit(read_text_file(path));
          break;
        case FileKind::kJsonLines:
          for_each_line(path, [&](const std::string& line, int64_t number) {
            if (line.empty()) return emit(line);
            emit(json_line_text(line, options.text_field, path, number));
          });
          break;
        case FileKind::kLines:
          for_each_line(path, [&](const std::string& line, int64_t) { emit(line); });
          break;
      }
    }
  return counts;
}

}  // namespace nt
