#!/usr/bin/env bash
# Renders an HTML report in headless Chromium and fails on a blank page or a console error.
#   browser_test.sh REPORT.html OUT.png
# Exit codes: 0 pass, 1 fail, 77 skipped (no Chromium; Debian: apt-get install chromium).
# The screenshot is 1200×3000 CSS pixels; "blank" means fewer than 5% of its rows hold more than one
# colour, read from the PNG with /usr/bin/python3's zlib (no third-party modules needed).
set -uo pipefail

report=${1:?usage: browser_test.sh REPORT.html OUT.png}
shot=${2:?usage: browser_test.sh REPORT.html OUT.png}

browser=""
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
done
if [ -z "$browser" ]; then
  echo "browser_test: SKIP: no chromium on PATH (apt-get install chromium)"
  exit 77
fi
[ -f "$report" ] || { echo "browser_test: FAIL: no such file $report"; exit 1; }

log=$(mktemp)
profile=$(mktemp -d)
trap 'rm -rf "$log" "$profile"' EXIT
rm -f "$shot"
# A private profile keeps runs independent; --virtual-time-budget lets layout finish before the shot.
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$profile" --no-first-run --disable-extensions \
  --enable-logging=stderr --v=0 --virtual-time-budget=5000 \
  --window-size=1200,3000 --screenshot="$shot" "file://$(realpath "$report")" >"$log" 2>&1
status=$?
if [ $status -ne 0 ] || [ ! -s "$shot" ]; then
  echo "browser_test: FAIL: $browser exited $status without a screenshot"
  tail -20 "$log"
  exit 1
fi
# The page has no scripts, so any console message (an uncaught error, a resource it failed to
# load) is a fault; Chromium logs them all as ...:CONSOLE:N] whatever their level.
if grep -E "Uncaught|:CONSOLE[(:]" "$log"; then
  echo "browser_test: FAIL: console errors while rendering $report"
  exit 1
fi

/usr/bin/python3 - "$shot" <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("browser_test: FAIL: the screenshot is not a PNG")
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        ihdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
w, h, depth, ctype = ihdr[0], ihdr[1], ihdr[2], ihdr[3]
channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
if depth != 8 or channels is None:
    sys.exit("browser_test: FAIL: unexpected PNG format (depth %d, colour type %d)" % (depth, ctype))
raw = zlib.decompress(idat)
stride = w * channels
# A row of one colour filters (None, Sub, Up, Average or Paeth) to bytes that are all equal after
# its first pixel (one pixel value repeated), whatever the filter; any drawn content (text, images, chart lines) breaks that.
# So the rows with content can be counted without undoing the filters.
content = 0
for y in range(h):
    row = raw[y * (stride + 1) + 1 + channels:(y + 1) * (stride + 1)]
    if row != row[:channels] * (len(row) // channels):
        content += 1
print("browser_test: %dx%d screenshot, %d of %d rows with content" % (w, h, content, h))
if content < h // 20:
    sys.exit("browser_test: FAIL: the page rendered (nearly) blank")
EOF
status=$?
[ $status -eq 0 ] && echo "browser_test: PASS: $shot"
exit $status
