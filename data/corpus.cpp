// Corpus readers. The KJV comes from the `bible` program of Debian's bible-kjv (its data files
// are in a private compressed format); each output line is "Ge1:1 In the beginning ...", and a
// new chapter reference starts a new document.
#include "data/corpus.h"

#include <fmt/format.h>

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

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot open text file '{}'", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw std::runtime_error(fmt::format("error reading text file '{}'", path));
  return text.str();
}

std::vector<std::string> text_files(const std::string& input) {
  std::error_code ec;
  if (!fs::is_directory(input, ec)) {
    if (!fs::exists(input, ec))
      throw std::runtime_error(fmt::format("input '{}' does not exist", input));
    return {input};
  }
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(input))
    if (entry.is_regular_file() && entry.path().extension() == ".txt")
      files.push_back(entry.path().string());
  if (files.empty())
    throw std::runtime_error(fmt::format("input directory '{}' holds no .txt file", input));
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

void for_each_document(const std::vector<std::string>& inputs,
                       const std::function<void(const std::string&)>& document) {
  if (inputs.empty()) return for_each_kjv_chapter(document);
  for (const auto& input : inputs)
    for (const auto& path : text_files(input)) document(read_file(path));
}

}  // namespace nt
