// Slurm hostlists and tasks-per-node strings, table-driven: the forms Slurm prints, zero padding
// kept, and malformed lists refused with the list quoted.
#include <gtest/gtest.h>

#include "runtime/hostlist.h"
#include "tests/support/expect_error.h"

namespace nt {
namespace {

using Hosts = std::vector<std::string>;

TEST(Hostlist, ExpandsSlurmsForms) {
  const std::vector<std::pair<std::string, Hosts>> cases = {
      {"node1", {"node1"}},
      {"node[01-04,07]", {"node01", "node02", "node03", "node04", "node07"}},
      {"gpu-a[1-2],cpu1", {"gpu-a1", "gpu-a2", "cpu1"}},
      {"n[8-11]", {"n8", "n9", "n10", "n11"}},
      {"n[098-101]", {"n098", "n099", "n100", "n101"}},
      {"rack[1-2]-n[1-2]", {"rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"}},
      {"a[1],b,c[3-3]", {"a1", "b", "c3"}},
      {"10.0.0.[1-2]", {"10.0.0.1", "10.0.0.2"}},
      {"localhost", {"localhost"}},
  };
  for (const auto& [list, hosts] : cases) EXPECT_EQ(expand_hostlist(list), hosts) << list;
}

TEST(Hostlist, RefusesMalformedLists) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty host name"},
      {"a,,b", "empty host name"},
      {"node[1-4", "'[' without ']'"},
      {"node1-4]", "']' without '['"},
      {"node[4-1]", "range '4-1' runs backwards"},
      {"node[a-b]", "'[a-b]': expected numbers or ranges such as 01-04, found 'a-b'"},
      {"node[]", "'[]': expected numbers or ranges"},
      {"node[1-2-3]", "'[1-2-3]': expected numbers or ranges such as 01-04, found '1-2-3'"},
      {"node[[1]]", "nested '['"},
      {"n[0-999999999]", "more than a million hosts"},
  };
  for (const auto& [list, message] : cases)
    testing::expect_error([&] { expand_hostlist(list); }, "hostlist '" + list + "': " + message);
}

TEST(TasksPerNode, ExpandsRepeatCounts) {
  EXPECT_EQ(expand_tasks_per_node("2(x3),1"), (std::vector<int>{2, 2, 2, 1}));
  EXPECT_EQ(expand_tasks_per_node("4"), (std::vector<int>{4}));
  EXPECT_EQ(expand_tasks_per_node("1,8(x2)"), (std::vector<int>{1, 8, 8}));
  for (const char* bad : {"", "2(x3", "2(3)", "x", "0", "2(x0)", "2,,1", "-1"})
    testing::expect_error([&] { expand_tasks_per_node(bad); },
                          std::string("tasks per node '") + bad + "'");
}

}  // namespace
}  // namespace nt
