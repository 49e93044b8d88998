#pragma once
// `diffmem report`: one self-contained HTML page (PNG images as data: URIs, charts as inline SVG,
// no scripts, nothing loaded from anywhere) and a summary.json for machines, from whatever stage
// outputs a run directory holds. Each section is optional and says "not run" when its files are
// missing (with the reason the audit recorded in stages/<stage>.json, when it did).
//
// Where the stages' files are: run.json (written by `diffmem audit`) names them; without it the
// audit's layout is assumed (data/, train-data/, model/, samples/, extract/, blackbox/, mia/,
// inpaint/). Files read: the data set's manifest.json and images.npy, the model's config.json,
// train_options.json and weights header, samples/manifest.json and shards, extract/summary.json
// (+ matches.csv), blackbox/summary.json + cliques.csv, mia/<attack>/{summary.json,roc.csv},
// inpaint/{summary.json,roc.csv,strips.png}; for a text-to-image model screen/{summary.json,
// screen.csv} and blackbox/prompts.csv (a prompt table: screen scores, clique size, flagged, the
// clique's distance to the prompt's own training image; the screen's ROC when labels are given).
//
// Every number the page shows in a summary cell carries data-key="<JSON pointer>" and is the
// value at that pointer of summary.json, formatted (integers as is, rates as percentages with one
// decimal, distances and AUCs with three). Every text that comes from input is escaped.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "diffmem/io/fields.h"

namespace diffmem::report {

struct ReportOptions {
  std::filesystem::path run;
  std::filesystem::path out;      // empty = run/report.html
  std::filesystem::path summary;  // empty = summary.json beside `out`
  std::string title = "What did this diffusion model memorize?";
  int64_t gallery = 24;           // generation | training pairs shown, closest first
  int64_t image_px = 84;          // display width of one gallery image (pixelated scaling)
  int64_t cliques = 8;            // flagged cliques shown
  int64_t clique_members = 10;    // generations shown per clique
  int64_t prompts = 64;           // text-to-image: prompt table rows shown (the screen's highest first)
};

DIFFMEM_FIELDS(ReportOptions, run, out, summary, title, gallery, image_px, cliques, clique_members, prompts)

struct ReportSection {
  std::string id;        // overview, gallery, duplicates, distances, mia, inpaint, screen, prompts, blackbox
  std::string title;
  bool present = false;  // false: the page says "not run" and why
  std::string note;      // why not, when absent
};

struct Report {
  std::string html;
  io::Json summary;
  std::vector<ReportSection> sections;
};

/// Reads the run directory and builds the page and the summary (writes nothing). Throws
/// diffmem::Error naming the file when a present stage output is malformed; a missing one only
/// marks its section "not run".
Report build_report(const ReportOptions& options);

struct ReportResult {
  std::filesystem::path html;
  std::filesystem::path summary;
  uint64_t html_bytes = 0;
  std::vector<ReportSection> sections;
};

/// build_report, then writes both files atomically (summary.json first, the page last).
ReportResult write_report(const ReportOptions& options);

}  // namespace diffmem::report
