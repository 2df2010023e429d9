"""Render a :class:`~aiarmor.core.findings.Chart` to an inline SVG string with matplotlib.

Figures are made with ``matplotlib.figure.Figure`` directly (no pyplot global state) and saved
with the SVG backend. Text from the chart data is drawn as SVG ``<text>`` (escaped by the XML
serializer) with math parsing off, so a label can neither inject markup nor break rendering
with a stray ``$``. The SVG is then re-serialized element by element: scripts, event-handler
attributes and external references are dropped and ids are prefixed so several charts can live
in one HTML page.
"""

from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiarmor.core.errors import InputError
from aiarmor.core.findings import Chart, Series
from aiarmor.reporting._text import clean_text

if TYPE_CHECKING:  # matplotlib is imported on first render: JSON/SARIF users never pay for it
    from matplotlib.axes import Axes
    from matplotlib.typing import RcKeyType

KINDS = ("bar", "line", "reliability", "heatmap", "roc")
"""Chart kinds this module can draw."""

_SVG_NS = "http://www.w3.org/2000/svg"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_PALETTE = ("#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04")
_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "aiarmor",
    "text.parse_math": False,
    "text.usetex": False,
    "font.family": "sans-serif",
    "font.size": 9.5,
    "axes.edgecolor": "#94a3b8",
    "axes.labelcolor": "#334155",
    "axes.titlesize": 11.0,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": "#475569",
    "ytick.color": "#475569",
    "grid.color": "#e2e8f0",
    "legend.frameon": False,
}
_URL_REF = re.compile(r"url\(\s*#([^)\s]+)\s*\)")


def render_chart_svg(chart: Chart, *, id_prefix: str = "chart") -> str:
    """``chart`` as a standalone ``<svg>`` element string, safe to inline in HTML.

    Raises InputError when the chart's kind is unknown or its series are malformed.
    """
    _validate(chart)
    chart = _clean(chart)
    size = (5.0, 4.2) if chart.kind in ("reliability", "heatmap") else (6.4, 3.6)
    import matplotlib  # deferred: heavy import
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=size, layout="constrained")
        ax = fig.add_subplot()
        _DRAW[chart.kind](ax, chart.series)
        _decorate(ax, chart)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return sanitize_svg(buffer.getvalue(), id_prefix=id_prefix, title=chart.title)


def sanitize_svg(svg: str, *, id_prefix: str, title: str = "") -> str:
    """Re-serialize an SVG we produced: no scripts/handlers/external refs, prefixed ids."""
    body = svg[svg.index("<svg") :]  # drop the XML declaration and DOCTYPE
    root = ET.fromstring(body)  # noqa: S314 - our own matplotlib output, no DTD/entities left
    _strip(root)
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]  # inline SVG in HTML needs no prefixes
        _rewrite_attributes(element, id_prefix)
    for size in ("width", "height"):
        root.attrib.pop(size, None)  # the page's CSS sizes the chart from its viewBox
    root.set("xmlns", _SVG_NS)
    root.set("role", "img")
    root.set("aria-label", title)
    text = ET.tostring(root, encoding="unicode")
    return re.sub(r"<\s*/?\s*script", "", text, flags=re.IGNORECASE)


def _validate(chart: Chart) -> None:
    """Reject unknown kinds and series whose x, y and yerr lengths differ."""
    if chart.kind not in KINDS:
        raise InputError(f"chart {chart.id!r}: unknown kind {chart.kind!r} (expected {KINDS})")
    for s in chart.series:
        if len(s.x) != len(s.y) or (s.yerr is not None and len(s.yerr) != len(s.y)):
            raise InputError(f"chart {chart.id!r}: series {s.name!r} has mismatched lengths")


def _clean(chart: Chart) -> Chart:
    """A copy of ``chart`` whose text carries no characters XML cannot hold."""
    series = tuple(
        replace(
            s,
            name=clean_text(s.name),
            x=tuple(clean_text(x) if isinstance(x, str) else x for x in s.x),
        )
        for s in chart.series
    )
    return replace(
        chart,
        title=clean_text(chart.title),
        x_label=clean_text(chart.x_label),
        y_label=clean_text(chart.y_label),
        series=series,
    )


def _decorate(ax: Axes, chart: Chart) -> None:
    """Title, axis labels, grid and legend."""
    ax.set_title(chart.title, loc="left")
    ax.set_xlabel(chart.x_label)
    ax.set_ylabel(chart.y_label)
    if chart.kind == "heatmap":
        return
    ax.grid(axis="y")
    ax.set_axisbelow(True)
    if any(s.name for s in chart.series):
        _legend(ax, chart.kind)


def _legend(ax: Axes, kind: str) -> None:
    """Beside the plot (never over the data); inside the empty corner of a reliability diagram."""
    if kind == "reliability":
        ax.legend(loc="upper left", fontsize=8.5, frameon=True, framealpha=0.9, edgecolor="none")
    else:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8.5)


def _finite(values: Sequence[float]) -> list[float]:
    """Floats with NaN/inf as NaN (matplotlib leaves a gap)."""
    return [float(v) if math.isfinite(float(v)) else math.nan for v in values]


def _numbers(values: Sequence[float | str]) -> list[float]:
    """Numeric x values (NaN for anything non-finite or non-numeric)."""
    return _finite([v if isinstance(v, int | float) else math.nan for v in values])


def _categories(series: Sequence[Series]) -> list[str]:
    """Every x label across the series, in first-seen order."""
    seen: dict[str, None] = {}
    for s in series:
        seen.update((_label(x), None) for x in s.x)
    return list(seen)


def _label(x: float | str) -> str:
    """The category label of an x value (numbers in their shortest form)."""
    return x if isinstance(x, str) else f"{x:g}"


def _draw_bar(ax: Axes, series: Sequence[Series]) -> None:
    """Grouped bars over categorical x, with symmetric error bars when given."""
    cats = _categories(series)
    width = 0.8 / max(len(series), 1)
    for i, s in enumerate(series):
        offset = (i - (len(series) - 1) / 2) * width
        pos = [cats.index(_label(x)) + offset for x in s.x]
        yerr = _finite(s.yerr) if s.yerr is not None else None
        color = _PALETTE[i % len(_PALETTE)]
        ax.bar(
            pos,
            _finite(s.y),
            width * 0.92,
            yerr=yerr,
            label=s.name,
            color=color,
            error_kw={"ecolor": "#1e293b", "capsize": 3, "elinewidth": 1},
        )
    _category_ticks(ax, cats)


def _category_ticks(ax: Axes, cats: list[str]) -> None:
    """Category labels under the x axis, slanted when they would collide."""
    slant = len(cats) > 6 or max((len(c) for c in cats), default=0) > 12
    ax.set_xticks(
        range(len(cats)), cats, rotation=30 if slant else 0, ha="right" if slant else "center"
    )


def _draw_line(ax: Axes, series: Sequence[Series]) -> None:
    """Lines with markers; categorical x when any x value is a string."""
    categorical = any(isinstance(x, str) for s in series for x in s.x)
    cats = _categories(series) if categorical else []
    for i, s in enumerate(series):
        xs = [float(cats.index(_label(x))) for x in s.x] if categorical else _numbers(s.x)
        color = _PALETTE[i % len(_PALETTE)]
        ax.plot(xs, _finite(s.y), marker="o", markersize=3.5, label=s.name, color=color)
        if s.yerr is not None:
            ys, err = _finite(s.y), _finite(s.yerr)
            lo = [y - e for y, e in zip(ys, err, strict=True)]
            hi = [y + e for y, e in zip(ys, err, strict=True)]
            ax.fill_between(xs, lo, hi, color=color, alpha=0.15, linewidth=0)
    if categorical:
        _category_ticks(ax, cats)


def _draw_reliability(ax: Axes, series: Sequence[Series]) -> None:
    """A calibration diagram: the series over a dashed ``y = x`` diagonal on [0, 1]."""
    ax.plot(
        [0, 1], [0, 1], linestyle="--", color="#94a3b8", linewidth=1, label="perfect calibration"
    )
    _draw_line(ax, series)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)


def _draw_roc(ax: Axes, series: Sequence[Series]) -> None:
    """ROC curves on log-log axes from 1e-4 (zeros cannot be drawn and are left out)."""
    for i, s in enumerate(series):
        pts = [(x, y) for x, y in zip(_numbers(s.x), _finite(s.y), strict=True) if x > 0 < y]
        dashed = i == len(series) - 1 and s.name == "random guess"
        ax.plot(
            [p[0] for p in pts],
            [p[1] for p in pts],
            label=s.name,
            color="#94a3b8" if dashed else _PALETTE[i % len(_PALETTE)],
            linestyle="--" if dashed else "-",
            linewidth=1 if dashed else 1.6,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_ylim(1e-4, 1)


def _draw_heatmap(ax: Axes, series: Sequence[Series]) -> None:
    """One series per image row (y are the pixel values); drawn as cells, no ticks."""
    grid = [_finite(s.y) for s in series]
    # vector cells, not an embedded raster: the report's CSP allows no data: images
    mesh = ax.pcolormesh(grid, cmap="magma", edgecolors="none")
    ax.invert_yaxis()
    ax.set_aspect("equal")
    bar = ax.figure.colorbar(mesh, ax=ax, shrink=0.8)
    if bar.solids is not None:
        bar.solids.set_rasterized(False)  # matplotlib rasterizes long colorbars by default
    ax.set_xticks([])
    ax.set_yticks([])


_DRAW = {
    "bar": _draw_bar,
    "line": _draw_line,
    "reliability": _draw_reliability,
    "heatmap": _draw_heatmap,
    "roc": _draw_roc,
}


def _strip(parent: ET.Element) -> None:
    """Remove script, foreignObject and metadata elements anywhere below ``parent``."""
    for child in list(parent):
        local = child.tag.rpartition("}")[2].lower()
        if local in {"script", "foreignobject", "metadata"}:
            parent.remove(child)
        else:
            _strip(child)


def _rewrite_attributes(element: ET.Element, prefix: str) -> None:
    """Prefix ids and internal references; drop handlers and any non-fragment link."""
    for name in list(element.attrib):
        value = element.attrib.pop(name)
        local = "href" if name == _XLINK_HREF else name
        if local.lower().startswith("on"):
            continue
        if local == "id":
            value = f"{prefix}-{value}"
        elif local == "href":
            if not value.startswith("#"):
                continue
            value = f"#{prefix}-{value[1:]}"
        else:
            value = _URL_REF.sub(lambda m: f"url(#{prefix}-{m.group(1)})", value)
        element.set(local, value)
