// The name joins the prefix, the running test's suite and name ('/' of parameterized tests
// replaced) and the pid.
#include "tests/support/temp_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

namespace nt::testing {

ScopedTempDir::ScopedTempDir(const std::string& prefix) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = "nanotrain_" + prefix;
  if (info) name += std::string("_") + info->test_suite_name() + "_" + info->name();
  name += "_" + std::to_string(::getpid());
  std::replace(name.begin(), name.end(), '/', '_');
  path_ = ::testing::TempDir() + "/" + name;
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

ScopedTempDir::~ScopedTempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace nt::testing
