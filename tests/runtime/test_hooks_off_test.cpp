// A build without test hooks (runtime/crash_point.cpp compiled here without
// NANOTRAIN_TEST_HOOKS, as a production build compiles it): a crash point never fires, and a set
// NANOTRAIN_TEST_CRASH_AT is refused with a message instead of doing nothing silently.
#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "runtime/crash_point.h"

namespace nt {
namespace {

TEST(TestHooksOff, ACrashPointIsANoOpAndTheVariableIsRefused) {
  ::unsetenv("NANOTRAIN_TEST_CRASH_AT");
  EXPECT_NO_THROW(check_test_hooks());
  ::setenv("NANOTRAIN_TEST_CRASH_AT", "before_meta", 1);
  crash_point("before_meta");  // alive: the hook is not compiled in
  try {
    check_test_hooks();
    ADD_FAILURE() << "NANOTRAIN_TEST_CRASH_AT was not refused";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("this build has no test hooks"), std::string::npos)
        << e.what();
  }
  ::unsetenv("NANOTRAIN_TEST_CRASH_AT");
}

}  // namespace
}  // namespace nt
