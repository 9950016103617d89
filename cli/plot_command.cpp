// `nanotrain plot RUN_DIR`: draws metrics.jsonl as an SVG file (training loss, validation bpb,
// tokens/s against the step) that any browser or image viewer opens. Written by hand: three
// panels of polylines with min/max labels, no plotting library needed.
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/cli_args.h"
#include "cli/commands.h"

namespace nt {
namespace {

constexpr const char* kPlotUsage =
    "usage: nanotrain plot RUN_DIR [--out FILE]\n"
    "Draws RUN_DIR/metrics.jsonl (loss, validation bpb, tokens/s against the step) as an SVG.\n";

struct PlotFlags {
  std::string out;
  template <class V>
  void visit(V&& v) {
    v("out", out, "the SVG file; \"\": RUN_DIR/metrics.svg");
  }
};

using Series = std::map<int64_t, double>;  // step -> value; a resumed run's later line wins

std::string panel(const Series& series, const std::string& title, double top) {
  constexpr double kLeft = 70, kPlotWidth = 660, kPlotHeight = 150;
  std::string svg = fmt::format("<g transform=\"translate(0,{})\">\n", top);
  svg += fmt::format("<text x=\"{}\" y=\"16\" font-size=\"14\" font-weight=\"bold\">{}</text>\n",
                     kLeft, title);
  svg += fmt::format(
      "<rect x=\"{}\" y=\"25\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>\n", kLeft,
      kPlotWidth, kPlotHeight);
  if (series.empty()) {
    svg +=
        fmt::format("<text x=\"{}\" y=\"100\" font-size=\"12\">no data</text>\n</g>\n", kLeft + 10);
    return svg;
  }
  double lo = series.begin()->second, hi = lo;
  for (const auto& [step, v] : series) lo = std::min(lo, v), hi = std::max(hi, v);
  if (hi == lo) hi = lo + 1;
  const double first = static_cast<double>(series.begin()->first);
  const double last = std::max(first + 1, static_cast<double>(series.rbegin()->first));
  std::string points;
  for (const auto& [step, v] : series)
    points += fmt::format("{:.1f},{:.1f} ", kLeft + (step - first) / (last - first) * kPlotWidth,
                          25 + (hi - v) / (hi - lo) * kPlotHeight);
  svg += fmt::format(
      "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" "
      "points=\"{}\"/>\n",
      points);
  svg += fmt::format("<text x=\"{}\" y=\"32\" font-size=\"11\" text-anchor=\"end\">{:.4g}</text>\n",
                     kLeft - 4, hi);
  svg +=
      fmt::format("<text x=\"{}\" y=\"175\" font-size=\"11\" text-anchor=\"end\">{:.4g}</text>\n",
                  kLeft - 4, lo);
  svg += fmt::format("<text x=\"{}\" y=\"190\" font-size=\"11\">step {}</text>\n", kLeft, first);
  svg +=
      fmt::format("<text x=\"{}\" y=\"190\" font-size=\"11\" text-anchor=\"end\">step {}</text>\n",
                  kLeft + kPlotWidth, static_cast<int64_t>(last));
  return svg + "</g>\n";
}

}  // namespace

int plot_command(const std::vector<std::string>& args) {
  if (help_requested(args)) return print_help<PlotFlags>(kPlotUsage);
  const CliArgs cli = split_cli_args(args);
  const std::string& dir = positional_at(cli, 0, "run directory (the checkpoint directory)");
  PlotFlags flags;
  config_from_flags(flags, cli.flags);
  const std::string path = dir + "/metrics.jsonl";
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("cannot open '" + path + "'");
  Series loss, bpb, speed;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
      const int64_t step = j.at("step").get<int64_t>();
      if (j.contains("loss")) loss[step] = j["loss"].get<double>();
      if (j.contains("tok_per_sec")) speed[step] = j["tok_per_sec"].get<double>();
      if (j.contains("val_bpb")) bpb[step] = j["val_bpb"].get<double>();
    } catch (const nlohmann::json::exception& e) {
      throw std::invalid_argument(fmt::format("{}:{}: {}", path, n, e.what()));
    }
  }
  const std::string out = flags.out.empty() ? dir + "/metrics.svg" : flags.out;
  std::ofstream svg(out);
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"640\" "
         "font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << panel(loss, "training loss", 10) << panel(bpb, "validation bits per byte", 220)
      << panel(speed, "tokens / s", 430) << "</svg>\n";
  if (!svg) throw std::runtime_error("cannot write '" + out + "'");
  std::cout << "wrote " << out << " (" << loss.size() << " steps, " << bpb.size()
            << " evaluations)\n";
  return 0;
}

}  // namespace nt
