// The subcommands of the `nanotrain` program. Each takes the arguments after its name and
// returns the process exit code; errors are thrown and reported by main.
#pragma once

#include <string>
#include <vector>

namespace nt {

int prepare_command(const std::vector<std::string>& args);
int train_command(const std::vector<std::string>& args);
int ckpt_command(const std::vector<std::string>& args);
int loss_command(const std::vector<std::string>& args);
int sample_command(const std::vector<std::string>& args);
int plot_command(const std::vector<std::string>& args);

}  // namespace nt
