"""Tables and SVG line charts for the experiment scripts (standard library only).

    plot.py chart SPEC.json OUT.svg     SPEC: {title, x_label, y_label, log_x, y_min, y_max,
                                              series: [{name, x, y, low, high}]}
    plot.py table SPEC.json OUT.md      SPEC: {columns: [...], rows: [[...], ...]}

Intervals (low/high, may hold null) are drawn as translucent bands with whiskers; text is escaped.
"""
import html
import json
import math
import sys

COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]


def chart(spec):
    w, h, left, right, top, bottom = 620, 360, 64, 210, 36, 48
    series = spec["series"]
    log_x = spec.get("log_x", False)
    xs = [x for s in series for x in s["x"]]
    fx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    x0, x1 = min(map(fx, xs)), max(map(fx, xs))
    if x0 == x1:
        x0, x1 = x0 - 1, x1 + 1
    ys = [v for s in series for k in ("y", "low", "high") for v in s.get(k, []) if v is not None]
    y0 = spec.get("y_min", min(ys) if ys else 0)
    y1 = spec.get("y_max", max(ys) if ys else 1)
    if y0 == y1:
        y1 = y0 + 1
    px = lambda v: left + (fx(v) - x0) / (x1 - x0) * (w - left - right)
    py = lambda v: h - bottom - (v - y0) / (y1 - y0) * (h - top - bottom)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<text x="{w / 2:.0f}" y="20" text-anchor="middle" font-size="14">{html.escape(spec.get("title", ""))}</text>',
           f'<rect x="{left}" y="{top}" width="{w - left - right}" height="{h - top - bottom}" fill="none" stroke="#444"/>']
    for k in range(6):
        v = y0 + (y1 - y0) * k / 5
        out.append(f'<line x1="{left - 4}" x2="{w - right}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#ddd"/>'
                   f'<text x="{left - 6}" y="{py(v) + 4:.1f}" text-anchor="end">{v:.3g}</text>')
    ticks = sorted(set(xs))
    if len(ticks) > 12:  # too many to label: decades on a log axis, six even steps otherwise
        ticks = ([10 ** k for k in range(math.ceil(x0 - 1e-9), math.floor(x1 + 1e-9) + 1)] if log_x
                 else [min(xs) + (max(xs) - min(xs)) * k / 5 for k in range(6)])
    for v in ticks:
        out.append(f'<text x="{px(v):.1f}" y="{h - bottom + 16}" text-anchor="middle">{v:g}</text>')
    out.append(f'<text x="{(left + w - right) / 2:.0f}" y="{h - 10}" text-anchor="middle">'
               f'{html.escape(spec.get("x_label", ""))}</text>')
    out.append(f'<text transform="translate(16,{(top + h - bottom) / 2:.0f}) rotate(-90)" text-anchor="middle">'
               f'{html.escape(spec.get("y_label", ""))}</text>')
    for i, s in enumerate(series):
        c = COLOURS[i % len(COLOURS)]
        pts = [(x, y, lo, hi) for x, y, lo, hi in zip(s["x"], s["y"], s.get("low", [None] * len(s["x"])),
                                                       s.get("high", [None] * len(s["x"]))) if y is not None]
        band = [(x, lo, hi) for x, _, lo, hi in pts if lo is not None and hi is not None]
        if len(band) > 1:
            poly = [f"{px(x):.1f},{py(lo):.1f}" for x, lo, _ in band] + \
                   [f"{px(x):.1f},{py(hi):.1f}" for x, _, hi in reversed(band)]
            out.append(f'<polygon points="{" ".join(poly)}" fill="{c}" fill-opacity="0.15"/>')
        for x, lo, hi in band:
            out.append(f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{py(lo):.1f}" y2="{py(hi):.1f}" stroke="{c}"/>')
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="'
                   + " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y, _, _ in pts) + '"/>')
        for x, y, _, _ in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"/>')
        ly = top + 14 + 18 * i
        out.append(f'<line x1="{w - right + 10}" x2="{w - right + 30}" y1="{ly - 4}" y2="{ly - 4}" stroke="{c}" '
                   f'stroke-width="2"/><text x="{w - right + 34}" y="{ly}">{html.escape(s["name"])}</text>')
    out.append("</svg>\n")
    return "\n".join(out)


def table(spec):
    lines = ["| " + " | ".join(spec["columns"]) + " |", "|" + "---|" * len(spec["columns"])]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in spec["rows"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    kind, src, dst = sys.argv[1:4]
    spec = json.load(open(src))
    open(dst, "w").write(chart(spec) if kind == "chart" else table(spec))
