"""The metrics chart as SVG built on the server: no JavaScript, nothing from a CDN."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from markupsafe import Markup

from incident_tracker.changes.service import DayCount
from incident_tracker.incidents.stats import MetricsGroup

WIDTH = 640
LABEL_WIDTH = 70
VALUE_WIDTH = 110
BAR_HEIGHT = 16
GROUP_GAP = 18
_SERIES = (("MTTA", "mtta_seconds", "bar-mtta"), ("MTTR", "mttr_seconds", "bar-mttr"))


def format_duration(seconds: float | None) -> str:
    """12 s, 4 min 05 s, 1 h 30 min, 2 d 3 h; an em dash when there is nothing to measure."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def _text(parent: ET.Element, x: float, y: float, content: str, css_class: str) -> None:
    element = ET.SubElement(parent, "text", {"x": f"{x:g}", "y": f"{y:g}", "class": css_class})
    element.text = content


def _svg(height: int, title: str, title_id: str) -> ET.Element:
    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "viewBox": f"0 0 {WIDTH} {height}",
            "role": "img",
            "class": "chart",
            "aria-labelledby": title_id,
        },
    )
    ET.SubElement(svg, "title", id=title_id).text = title
    return svg


def _markup(svg: ET.Element) -> Markup:
    # ElementTree escapes every text and attribute, so the markup is safe to embed as is.
    return Markup(ET.tostring(svg, encoding="unicode"))  # noqa: S704


def mean_durations_chart(groups: list[MetricsGroup], title: str) -> Markup:
    """Horizontal bars: mean MTTA and mean MTTR for each group, on one scale."""
    means = [
        getattr(group, attribute).mean or 0.0 for group in groups for _, attribute, _ in _SERIES
    ]
    scale_max = max([*means, 1.0])
    bar_space = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    group_height = BAR_HEIGHT * len(_SERIES) + GROUP_GAP
    legend_height = 28
    height = legend_height + group_height * max(len(groups), 1)
    svg = _svg(height, title, "chart-title")
    for index, (label, _, css_class) in enumerate(_SERIES):
        x = LABEL_WIDTH + index * 120
        ET.SubElement(
            svg, "rect", {"x": str(x), "y": "4", "width": "14", "height": "14", "class": css_class}
        )
        _text(svg, x + 20, 16, f"{label} (mean)", "legend")
    if not groups:
        _text(svg, LABEL_WIDTH, legend_height + 20, "No incidents in this window.", "value")
    for row, group in enumerate(groups):
        top = legend_height + row * group_height
        _text(svg, 0, top + BAR_HEIGHT + 4, group.key, "group")
        for index, (label, attribute, css_class) in enumerate(_SERIES):
            mean = getattr(group, attribute).mean
            y = top + index * BAR_HEIGHT
            width = bar_space * (mean or 0.0) / scale_max
            bar = ET.SubElement(
                svg,
                "rect",
                {
                    "x": str(LABEL_WIDTH),
                    "y": f"{y + 2:g}",
                    "width": f"{max(width, 1.0):.1f}",
                    "height": str(BAR_HEIGHT - 4),
                    "class": css_class,
                },
            )
            ET.SubElement(bar, "title").text = f"{group.key} {label}: {format_duration(mean)}"
            _text(svg, LABEL_WIDTH + width + 6, y + BAR_HEIGHT - 3, format_duration(mean), "value")
    return _markup(svg)


DAY_CHART_HEIGHT = 160
_DAY_SERIES = (("deployments", "bar-deploy"), ("failed", "bar-failed"))


def deployments_chart(days: list[DayCount], title: str) -> Markup:
    """A column per UTC day: every deployment, with the failed ones marked at its foot."""
    legend_height, axis_height = 28, 18
    plot_height = DAY_CHART_HEIGHT - legend_height - axis_height
    svg = _svg(DAY_CHART_HEIGHT, title, "deployments-chart-title")
    for index, (label, css_class) in enumerate(_DAY_SERIES):
        key_x = LABEL_WIDTH + index * 140
        ET.SubElement(
            svg,
            "rect",
            {"x": str(key_x), "y": "4", "width": "14", "height": "14", "class": css_class},
        )
        _text(svg, key_x + 20, 16, label, "legend")
    peak = max([day.deployments for day in days] + [1])
    _text(svg, 0, legend_height + 10, f"{peak} / day", "value")
    slot = (WIDTH - LABEL_WIDTH) / max(len(days), 1)
    base = legend_height + plot_height
    for index, day in enumerate(days):
        x = LABEL_WIDTH + index * slot
        column = ET.SubElement(svg, "g", {"class": "day"})
        ET.SubElement(
            column, "title"
        ).text = f"{day.day.isoformat()}: {day.deployments} deployments, {day.failed} failed"
        for count, css_class in ((day.deployments, "bar-deploy"), (day.failed, "bar-failed")):
            if count:
                bar_height = plot_height * count / peak
                ET.SubElement(
                    column,
                    "rect",
                    {
                        "x": f"{x + slot * 0.1:.1f}",
                        "y": f"{base - bar_height:.1f}",
                        "width": f"{max(slot * 0.8, 1.0):.1f}",
                        "height": f"{bar_height:.1f}",
                        "class": css_class,
                    },
                )
    if days:
        _text(svg, LABEL_WIDTH, DAY_CHART_HEIGHT - 4, days[0].day.isoformat(), "value")
        _text(svg, WIDTH - 80, DAY_CHART_HEIGHT - 4, days[-1].day.isoformat(), "value")
    return _markup(svg)
