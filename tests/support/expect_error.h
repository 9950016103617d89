// EXPECT-style check that a call throws `Exception` (std::invalid_argument unless named) with a
// given message fragment: errors in nanotrain are part of the interface, so tests pin their words.
#pragma once

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace nt::testing {

template <typename Exception = std::invalid_argument, typename Fn>
void expect_error(Fn fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected an error containing: " << needle;
  } catch (const Exception& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << needle;
  }
}

}  // namespace nt::testing
