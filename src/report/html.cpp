#include "diffmem/report/html.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "diffmem/core/error.h"

namespace diffmem::report {
namespace {

std::string table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows, bool raw) {
  std::string out = "<table>\n<thead><tr>";
  for (const std::string& h : header) out += "<th>" + html_escape(h) + "</th>";
  out += "</tr></thead>\n<tbody>\n";
  for (size_t r = 0; r < rows.size(); ++r) {
    check(rows[r].size() == header.size(), "html_table: row " + std::to_string(r),
          std::to_string(header.size()) + " cells (as the header)",
          std::to_string(rows[r].size()) + " cells");
    out += "<tr>";
    for (const std::string& c : rows[r]) out += "<td>" + (raw ? c : html_escape(c)) + "</td>";
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20 && ch != '\t' && ch != '\n' && ch != '\r')
          out += "\xEF\xBF\xBD";  // U+FFFD
        else
          out += ch;
    }
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string png_data_uri(std::string_view png_bytes) {
  static const std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);
  if (png_bytes.substr(0, 8) != kSignature) {
    std::string found;
    for (size_t k = 0; k < std::min<size_t>(8, png_bytes.size()); ++k) {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%02x", static_cast<unsigned char>(png_bytes[k]));
      found += hex;
    }
    fail("png_data_uri", "bytes starting with the PNG signature 89504e470d0a1a0a",
         png_bytes.empty() ? std::string("no bytes") : found);
  }
  return "data:image/png;base64," + base64_encode(png_bytes);
}

std::string png_img_tag(std::string_view png_bytes, std::string_view alt, int width_px) {
  std::string out = "<img src=\"" + png_data_uri(png_bytes) + "\" alt=\"" + html_escape(alt) + "\"";
  if (width_px > 0) out += " width=\"" + std::to_string(width_px) + "\"";
  return out + " style=\"image-rendering: pixelated\">";
}

std::string html_table(const std::vector<std::string>& header,
                       const std::vector<std::vector<std::string>>& rows) {
  return table(header, rows, false);
}

std::string html_table_raw(const std::vector<std::string>& header,
                           const std::vector<std::vector<std::string>>& row_html) {
  return table(header, row_html, true);
}

std::string format_fixed(double value, int digits) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", std::max(0, std::min(digits, 17)), value);
  return buf;
}

std::string format_percent(double rate, int digits) {
  return format_fixed(100 * rate, digits) + "%";
}

std::string html_page(std::string_view title, std::string_view body_html) {
  const std::string t = html_escape(title);
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + t +
      "</title>\n<style>\n"
      "body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; "
      "color: #222; }\n"
      "table { border-collapse: collapse; margin: 1em 0; }\n"
      "th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }\n"
      "th { background: #f3f3f3; }\n"
      "figure { display: inline-block; margin: 0.5em; vertical-align: top; }\n"
      "</style>\n</head>\n<body>\n<h1>" + t + "</h1>\n";
  out += body_html;
  return out + "\n</body>\n</html>\n";
}

}  // namespace diffmem::report
