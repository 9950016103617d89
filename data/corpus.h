// The text corpus `nanotrain prepare` reads, as a stream of documents: the .txt files named
// (a directory stands for its .txt files, recursively, in sorted order; each file is one
// document), or by default the King James Bible from Debian's bible-kjv, one document per
// chapter.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace nt {

// Calls `document` with each document's text, in a fixed order. An empty `inputs` means the
// KJV Bible. Throws std::runtime_error naming the path when an input is missing or unreadable,
// a directory holds no .txt file, or the `bible` program is not installed.
void for_each_document(const std::vector<std::string>& inputs,
                       const std::function<void(const std::string&)>& document);

}  // namespace nt
