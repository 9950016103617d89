// The random number generator states a checkpoint carries (meta's "rng_state"), so that a
// resumed run draws the same numbers as one never stopped: torch's default CPU generator and,
// where CUDA is in use, the current device's generator, as hex strings of their state bytes.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace nt {

// {"cpu": "<hex>"} plus "cuda": "<hex>" when CUDA is available.
nlohmann::json rng_state_to_json();

// Restores what rng_state_to_json saved. Throws std::runtime_error naming `where` and the key
// for a malformed value or a state of the wrong size; a missing "cuda" entry leaves that
// generator alone.
void restore_rng_state(const nlohmann::json& state, const std::string& where);

}  // namespace nt
