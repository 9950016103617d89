// The text corpus `nanotrain prepare` reads, as a stream of documents, one at a time (memory
// holds one document): .txt files (a file is a document), JSON Lines (.jsonl, .jsonl.gz: a
// document per line, its text in one field), or with format "lines" a document per line of
// text files; a directory stands for those files in it, recursively, in sorted order. By
// default the King James Bible from Debian's bible-kjv, one document per chapter.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace nt {

constexpr int64_t kMaxDocumentBytes = int64_t{64} << 20;  // a longer line or file is an error

struct CorpusOptions {
  std::string format = "auto";      // auto: by file name (.txt, .jsonl, .jsonl.gz) | lines
  std::string text_field = "text";  // the JSON Lines field holding a document's text

  // Throws std::invalid_argument for an unknown format or an empty field name.
  void validate() const;
};

struct CorpusCounts {
  int64_t documents = 0;      // passed to the callback
  int64_t empty_skipped = 0;  // empty files, blank lines, "" texts: not documents
};

// Calls `document` with each non-empty document's text, in a fixed order. An empty `inputs`
// means the KJV Bible. Throws std::runtime_error naming the file (and line) for a missing or
// unreadable input, a directory with no file of the format, a damaged .gz, a line or file over
// kMaxDocumentBytes, a JSON line that does not parse or lacks the text field as a string, or a
// missing `bible` program.
CorpusCounts for_each_document(const std::vector<std::string>& inputs, const CorpusOptions& options,
                               const std::function<void(const std::string&)>& document);

}  // namespace nt
