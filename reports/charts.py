"""A small server-rendered SVG chart of turnover (bars) and GGR (line) per period. No script."""

from __future__ import annotations

from decimal import Decimal

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from wallet.money import format_money

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 720, 220, 90, 28, 12


def svg(series: list[tuple[str, Decimal, Decimal]], currency: str) -> SafeString:
    """`series`: (period label, turnover, GGR). Amounts are labelled in `currency`."""
    if not series:
        return mark_safe('<p class="help">No figures in this range.</p>')
    values = [v for _, turnover, ggr in series for v in (turnover, ggr)]
    top = max(max(values), Decimal(0))
    bottom = min(min(values), Decimal(0))
    span = (top - bottom) or Decimal(1)
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    plot_w = WIDTH - PAD_LEFT - 10
    step = Decimal(plot_w) / len(series)

    def y(value: Decimal) -> str:
        return f"{PAD_TOP + float((top - value) / span) * plot_h:.1f}"

    parts = [
        format_html(
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" role="img"'
            ' aria-label="Turnover and GGR in {}" class="report-chart">',
            WIDTH,
            HEIGHT,
            currency,
        ),
        format_html(
            '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#888" stroke-width="1"/>',
            PAD_LEFT,
            WIDTH,
            y(Decimal(0)),
            y(Decimal(0)),
        ),
    ]
    for value, anchor in ((top, top), (bottom, bottom)):
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#555">{}</text>',
                PAD_LEFT - 6,
                f"{float(y(anchor)) + 4:.1f}",
                format_money(value, currency),
            )
        )
    points = []
    bar_w = max(float(step) * 0.6, 1.0)
    for i, (label, turnover, ggr) in enumerate(series):
        x = PAD_LEFT + float(step) * i + float(step) / 2
        y_top, y_zero = float(y(max(turnover, Decimal(0)))), float(y(Decimal(0)))
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="#9cc3e6"><title>{}: turnover {}</title></rect>',
                f"{x - bar_w / 2:.1f}",
                f"{y_top:.1f}",
                f"{bar_w:.1f}",
                f"{max(y_zero - y_top, 0.5):.1f}",
                label,
                format_money(turnover, currency),
            )
        )
        points.append((x, float(y(ggr)), label, ggr))
    parts.append(
        format_html(
            '<polyline fill="none" stroke="#c0392b" stroke-width="2" points="{}"/>',
            " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in points),
        )
    )
    for px, py, label, ggr in points:
        parts.append(
            format_html(
                '<circle cx="{}" cy="{}" r="3" fill="#c0392b"><title>{}: GGR {}</title></circle>',
                f"{px:.1f}",
                f"{py:.1f}",
                label,
                format_money(ggr, currency),
            )
        )
    first, last = series[0][0], series[-1][0]
    parts.append(
        format_html(
            '<text x="{}" y="{}" font-size="11" fill="#555">{}</text>'
            '<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#555">{}</text>',
            PAD_LEFT,
            HEIGHT - 8,
            first,
            WIDTH - 10,
            HEIGHT - 8,
            last,
        )
    )
    parts.append(mark_safe("</svg>"))
    legend = format_html(
        '<p class="help"><span style="color:#5b9bd5">■</span> turnover (stakes) &nbsp;'
        '<span style="color:#c0392b">●</span> GGR, in {}</p>',
        escape(currency),
    )
    return mark_safe("".join(str(p) for p in parts) + str(legend))
