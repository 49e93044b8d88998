#pragma once
// Building blocks for the self-contained HTML report: escaping, base64 data: URIs for PNG bytes,
// tables, number formatting, the page shell. The page has no scripts and loads nothing.
#include <string>
#include <string_view>
#include <vector>

namespace diffmem::report {

/// Escapes & < > " ' (as &amp; &lt; &gt; &quot; &#39;), safe in element text and in quoted
/// attribute values of HTML and XML (SVG). C0 control characters other than tab, newline and
/// carriage return, which XML forbids even escaped, become U+FFFD.
std::string html_escape(std::string_view text);

/// RFC 4648 base64 (standard alphabet, '=' padding, no line breaks).
std::string base64_encode(std::string_view bytes);

/// "data:image/png;base64,..." for the bytes of a PNG file. Throws diffmem::Error when the bytes
/// do not start with the PNG signature (the data: URI would otherwise show a broken image).
std::string png_data_uri(std::string_view png_bytes);

/// <img src="data:..." alt="..."> with the alt text escaped; width_px <= 0 leaves the width out.
/// image-rendering: pixelated keeps 32×32 samples sharp when scaled up.
std::string png_img_tag(std::string_view png_bytes, std::string_view alt, int width_px = 0);

/// <table> with a header row; every cell is plain text and gets escaped. Throws diffmem::Error
/// naming the row when a row's cell count differs from the header's.
std::string html_table(const std::vector<std::string>& header,
                       const std::vector<std::vector<std::string>>& rows);

/// Same, but the row cells are HTML already (e.g. an <img> tag); header cells are still escaped.
std::string html_table_raw(const std::vector<std::string>& header,
                           const std::vector<std::vector<std::string>>& row_html);

/// Fixed-point text ("0.923"); "inf", "-inf", "nan" for the non-finite values.
std::string format_fixed(double value, int digits = 3);

/// A rate as a percentage ("12.3%"): format_fixed(100 · rate, digits) + "%".
std::string format_percent(double rate, int digits = 1);

/// A complete document: doctype, UTF-8, the escaped title as <title> and <h1>, a small inline
/// stylesheet, and body_html placed as is.
std::string html_page(std::string_view title, std::string_view body_html);

}  // namespace diffmem::report
