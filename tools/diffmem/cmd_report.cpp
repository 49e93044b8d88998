// `diffmem report`: one self-contained HTML page (and summary.json) from a run directory.
#include <cstdio>
#include <memory>

#include "command.h"
#include "flags.h"
#include "diffmem/report/report.h"

namespace {
using namespace diffmem;

void print_result(const report::ReportResult& r) {
  for (const auto& s : r.sections)
    std::printf("  %-10s %s\n", s.id.c_str(), s.present ? "ok" : ("not run: " + s.note).c_str());
  std::printf("report: %s (%.1f KB)\nsummary: %s\n", r.html.c_str(), r.html_bytes / 1024.0,
              r.summary.c_str());
}
}  // namespace

DIFFMEM_COMMAND(800) {
  auto o = std::make_shared<report::ReportOptions>();
  auto* sub = app.add_subcommand(
      "report", "One self-contained HTML page (and summary.json) from a run directory: extracted "
                "images, ROC curves, histograms, cliques, inpainting");
  sub->add_option("--run", o->run, "Run directory (diffmem audit --run)")->required();
  cli::add_shared(sub, cli::flags::kOut, o->out, "the HTML file to write (default RUN/report.html)");
  sub->add_option("--summary", o->summary, "summary.json to write (default: beside --out)");
  sub->add_option("--title", o->title, "Page title")->capture_default_str();
  sub->add_option("--gallery", o->gallery, "Generation/training pairs shown")->capture_default_str();
  sub->add_option("--image-px", o->image_px, "Display width of a gallery image in pixels")
      ->capture_default_str();
  sub->add_option("--cliques", o->cliques, "Flagged cliques shown")->capture_default_str();
  sub->callback([o] {
    cli::start();
    print_result(report::write_report(*o));
  });
}
