// The process environment as the launcher sees it: what it passes on to workers, where temporary
// files go, and whether the user set a variable it would otherwise default. Code above runtime/
// reads the environment only through here and through DistEnv.
#pragma once

#include <map>
#include <string>

namespace nt {

// Every variable of this process, name -> value.
std::map<std::string, std::string> environment_variables();

// Whether `name` is set (even to the empty string).
bool environment_has(const char* name);

// $TMPDIR when set and non-empty, else /tmp.
std::string temp_directory();

// Where nanotrain keeps its data, tokenizer and checkpoints: $NANOTRAIN_BASE_DIR when set and
// non-empty, else ~/.cache/nanotrain (nanochat's NANOCHAT_BASE_DIR and ~/.cache/nanochat).
std::string get_base_dir();

// $NANOTRAIN_LIBDIR when set and non-empty (where to look for nanotrain's own shared
// libraries instead of beside the executable), else "".
std::string library_dir_override();

}  // namespace nt
