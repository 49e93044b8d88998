#include "diffmem/report/html.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "diffmem/core/error.h"
#include "test_support.h"

using namespace diffmem;
using namespace diffmem::report;

TEST(Html, EscapesMarkupAndQuotes) {
  EXPECT_EQ(html_escape("<script>alert(\"x\")</script>"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
  EXPECT_EQ(html_escape("it's a & b"), "it&#39;s a &amp; b");
  EXPECT_EQ(html_escape("&amp;"), "&amp;amp;");  // escaping twice shows the entity, never decodes
  EXPECT_EQ(html_escape("tab\tnl\n\xc3\xa9"), "tab\tnl\n\xc3\xa9");  // UTF-8 passes through
  EXPECT_EQ(html_escape(std::string("a\x01z", 3)), "a\xEF\xBF\xBDz");  // XML-illegal control char
  EXPECT_EQ(html_escape(""), "");
}

TEST(Html, Base64Rfc4648Vectors) {
  // RFC 4648 §10.
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  // High bytes exercise the unsigned handling and the last two alphabet characters.
  EXPECT_EQ(base64_encode(std::string("\xff\xfe\xfd\xfb\xef\xbe", 6)), "//79++++");
}

TEST(Html, Base64MatchesPythonOnAllByteValues) {
  std::string py = std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : test::numpy_python();
  if (py.empty()) GTEST_SKIP() << "no python";
  test::TempDir dir;
  std::string bytes;
  for (int rep = 0; rep < 3; ++rep)
    for (int b = 0; b < 256; ++b) bytes += static_cast<char>((b * 37 + rep) & 255);
  bytes += "xy";  // a length that needs padding
  test::write_bytes(dir / "in.bin", bytes);
  auto r = test::run_shell(py + " -c 'import base64,sys; sys.stdout.write(base64.b64encode(open(sys.argv[1],\"rb\").read()).decode())' " +
                           test::shell_quote((dir / "in.bin").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(base64_encode(bytes), r.output);
}

TEST(Html, PngDataUri) {
  std::string png("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", 16);
  EXPECT_EQ(png_data_uri(png), "data:image/png;base64," + base64_encode(png));
  std::string img = png_img_tag(png, "pair <1> \"a\"", 64);
  EXPECT_NE(img.find("alt=\"pair &lt;1&gt; &quot;a&quot;\""), std::string::npos);
  EXPECT_NE(img.find("width=\"64\""), std::string::npos);
  EXPECT_NE(test::error_of([] { png_data_uri("GIF89a.."); }).find("474946383961"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { png_data_uri(""); }).find("no bytes"), std::string::npos);
}

TEST(Html, Tables) {
  std::string t = html_table({"name", "AUC"}, {{"<loss>", "0.9"}, {"LiRA & flips", "0.99"}});
  EXPECT_NE(t.find("<th>name</th><th>AUC</th>"), std::string::npos);
  EXPECT_NE(t.find("<td>&lt;loss&gt;</td><td>0.9</td>"), std::string::npos);
  EXPECT_NE(t.find("<td>LiRA &amp; flips</td>"), std::string::npos);
  std::string raw = html_table_raw({"<img>"}, {{"<b>x</b>"}});
  EXPECT_NE(raw.find("<th>&lt;img&gt;</th>"), std::string::npos);
  EXPECT_NE(raw.find("<td><b>x</b></td>"), std::string::npos);
  EXPECT_NE(test::error_of([] { html_table({"a", "b"}, {{"1", "2"}, {"3"}}); }).find("row 1"),
            std::string::npos);
}

TEST(Html, NumberFormatting) {
  EXPECT_EQ(format_fixed(0.92345), "0.923");
  EXPECT_EQ(format_fixed(2.5, 0), "2");  // round-half-even of printf
  EXPECT_EQ(format_fixed(INFINITY), "inf");
  EXPECT_EQ(format_fixed(NAN), "nan");
  EXPECT_EQ(format_percent(0.4412), "44.1%");
  EXPECT_EQ(format_percent(0.001, 2), "0.10%");
}

TEST(Html, PageEscapesTitle) {
  std::string p = html_page("run <a>", "<p>body</p>");
  EXPECT_EQ(p.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(p.find("<title>run &lt;a&gt;</title>"), std::string::npos);
  EXPECT_NE(p.find("<h1>run &lt;a&gt;</h1>"), std::string::npos);
  EXPECT_NE(p.find("<p>body</p>"), std::string::npos);
  EXPECT_EQ(p.find("<script"), std::string::npos);
}
