#include "passes/report/signal_plot.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

#include "passes/report/report.h"

namespace reinit {

namespace {

constexpr double kWidth = 960, kHeight = 480, kLeft = 70, kRight = 20, kTop = 50, kBottom = 60;
constexpr int kLabels = 4;  // the layers with the largest change, labeled

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Px(double v) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(1);
  s << v;
  return s.str();
}

}  // namespace

std::string SignalPlotSvg(const SignalAudit& audit, const std::string& title) {
  std::vector<const LayerSignal*> layers;
  double lo = INFINITY, hi = -INFINITY;
  int max_depth = 1;
  for (const LayerSignal& l : audit.layers) {
    layers.push_back(&l);
    max_depth = std::max(max_depth, l.depth);
    for (double v : {l.forward_std, l.backward_std}) {
      if (std::isfinite(v) && v > 0) lo = std::min(lo, std::log10(v)), hi = std::max(hi, std::log10(v));
    }
  }
  if (!std::isfinite(lo)) lo = -1, hi = 1;
  lo = std::floor(lo - 0.05), hi = std::ceil(hi + 0.05);
  if (hi - lo < 1) hi = lo + 1;
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  auto x_of = [&](double depth) { return kLeft + plot_w * (max_depth == 1 ? 0.5 : (depth - 1) / (max_depth - 1)); };
  auto y_of = [&](double std) { return kTop + plot_h * (hi - std::log10(std)) / (hi - lo); };

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
      << "\" viewBox=\"0 0 " << kWidth << " " << kHeight << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg << "<text x=\"" << kLeft << "\" y=\"22\" font-size=\"15\">" << Escape(title) << "</text>\n";
  svg << "<text x=\"" << kLeft << "\" y=\"40\" fill=\"#555\">forward last/first " << Escape(Short(audit.forward_ratio))
      << " (" << audit.forward_verdict << "), backward first/last " << Escape(Short(audit.backward_ratio)) << " ("
      << audit.backward_verdict << "), input std " << Escape(Short(audit.input_std)) << "</text>\n";

  // Residual blocks: the depths between consecutive branch ends, shaded in alternation.
  std::vector<int> ends;
  for (const LayerSignal* l : layers) {
    if (l->residual_end) ends.push_back(l->depth);
  }
  std::sort(ends.begin(), ends.end());
  ends.erase(std::unique(ends.begin(), ends.end()), ends.end());
  const double half = max_depth == 1 ? plot_w / 2 : plot_w / (max_depth - 1) / 2;
  int previous = 0;
  for (size_t i = 0; i < ends.size(); ++i) {
    const double x0 = std::max(kLeft, x_of(previous + 1) - half), x1 = std::min(kLeft + plot_w, x_of(ends[i]) + half);
    if (i % 2 == 0 && x1 > x0) {
      svg << "<rect x=\"" << Px(x0) << "\" y=\"" << kTop << "\" width=\"" << Px(x1 - x0) << "\" height=\""
          << plot_h << "\" fill=\"#eef3f8\"/>\n";
    }
    previous = ends[i];
  }

  // Axes: a grid line per power of ten of std.
  for (int e = static_cast<int>(lo); e <= static_cast<int>(hi); ++e) {
    const double y = y_of(std::pow(10.0, e));
    svg << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + plot_w << "\" y1=\"" << Px(y) << "\" y2=\"" << Px(y)
        << "\" stroke=\"#ddd\"/>\n";
    svg << "<text x=\"" << kLeft - 8 << "\" y=\"" << Px(y + 4) << "\" text-anchor=\"end\">1e" << e << "</text>\n";
  }
  const int step = std::max(1, max_depth / 10);
  for (int d = 1; d <= max_depth; d += step) {
    svg << "<text x=\"" << Px(x_of(d)) << "\" y=\"" << kTop + plot_h + 18 << "\" text-anchor=\"middle\">" << d
        << "</text>\n";
  }
  svg << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << plot_w << "\" height=\"" << plot_h
      << "\" fill=\"none\" stroke=\"#888\"/>\n";
  svg << "<text x=\"" << kLeft + plot_w / 2 << "\" y=\"" << kHeight - 18
      << "\" text-anchor=\"middle\">depth (layers on the longest path from the input)</text>\n";
  svg << "<text transform=\"translate(18," << kTop + plot_h / 2 << ") rotate(-90)\" text-anchor=\"middle\">std (log scale)</text>\n";

  // The two lines and their markers; each marker's title names the layer (a tooltip in browsers).
  struct Line {
    const char* name;
    const char* color;
    double LayerSignal::*field;
  };
  const Line lines[] = {{"forward (before activation)", "#1f77b4", &LayerSignal::forward_std},
                        {"backward (gradient at input)", "#d62728", &LayerSignal::backward_std}};
  int legend = 0;
  for (const Line& line : lines) {
    std::string points;
    std::ostringstream markers;
    for (const LayerSignal* l : layers) {
      const double v = l->*line.field;
      if (!std::isfinite(v) || v <= 0) continue;
      const std::string x = Px(x_of(l->depth)), y = Px(y_of(v));
      points += x + "," + y + " ";
      markers << "<circle cx=\"" << x << "\" cy=\"" << y << "\" r=\"3\" fill=\"" << line.color << "\"><title>"
              << Escape(l->name + " (" + l->op + ", " + l->activation + "): " + Short(v)) << "</title></circle>\n";
    }
    svg << "<polyline points=\"" << points << "\" fill=\"none\" stroke=\"" << line.color
        << "\" stroke-width=\"1.5\"/>\n"
        << markers.str();
    const double ly = kTop + 14 + 16 * legend++;
    svg << "<line x1=\"" << kLeft + plot_w - 200 << "\" x2=\"" << kLeft + plot_w - 180 << "\" y1=\"" << ly - 4
        << "\" y2=\"" << ly - 4 << "\" stroke=\"" << line.color << "\" stroke-width=\"2\"/>"
        << "<text x=\"" << kLeft + plot_w - 174 << "\" y=\"" << ly << "\">" << line.name << "</text>\n";
  }

  // Labels: the layers whose forward std changes most from the layer before.
  std::vector<std::pair<double, const LayerSignal*>> changes;
  for (size_t i = 1; i < layers.size(); ++i) {
    const double a = layers[i - 1]->forward_std, b = layers[i]->forward_std;
    if (std::isfinite(a) && std::isfinite(b) && a > 0 && b > 0) changes.push_back({std::fabs(std::log(b / a)), layers[i]});
  }
  std::sort(changes.begin(), changes.end(), [](const auto& p, const auto& q) { return p.first > q.first; });
  for (size_t i = 0; i < changes.size() && i < kLabels; ++i) {
    if (changes[i].first < std::log(1.5)) break;  // nothing worth a label
    const LayerSignal& l = *changes[i].second;
    svg << "<text x=\"" << Px(x_of(l.depth) + 5) << "\" y=\"" << Px(y_of(l.forward_std) - 6)
        << "\" fill=\"#1f77b4\">" << Escape(l.name) << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace reinit
