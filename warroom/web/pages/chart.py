"""The charts, specified once, in Python: the big screen's per-minute chart (live and
replay) and the retrospective's two. Each is a plotly figure (traces, axes, colours,
annotations) handed to the page as JSON; the browser only sizes it to its box and
draws it with `Plotly.react`, so no script keeps a copy of a rule (the velocity series
is `window_series`, the same one the stimulus rules and the snapshot use)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import plotly.graph_objects as go

from warroom.core.ingest.clock import MINUTE_MS, from_ms, minute_floor
from warroom.core.ingest.money import FEN_PER_WAN
from warroom.core.live.windows import window_series
from warroom.web.pages.vocab import action_emoji, action_title

# Plotly's date axis is zone-less: every x is the campaign's wall clock.
WALL = "%Y-%m-%d %H:%M:%S"

INK = "#9fb0d0"
BARS = "rgba(255,190,70,0.85)"
CUMULATIVE = "#ff5a7a"
STIMULUS = "rgba(255,77,94,0.9)"
CLEAR = "rgba(0,0,0,0)"

OPEN_BAR = "rgba(255,190,70,0.35)"
VELOCITY = "#4fd1ff"

SCREEN_CONFIG = {"staticPlot": True, "displayModeBar": False}
# The open minute's pace is its sales so far scaled to a whole minute, once it has run
# this long (a few seconds in, one order would read as a rush).
OPEN_PACE_AFTER_MS = 15_000


def open_pace(sales: int, elapsed_ms: int) -> float | None:
    """The still-open minute's sales per whole minute at its pace so far, None before
    OPEN_PACE_AFTER_MS (too early to say: the line keeps its last complete value)."""
    if elapsed_ms < OPEN_PACE_AFTER_MS:
        return None
    return sales * MINUTE_MS / elapsed_ms


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def _wall(ms: int, tz: str) -> str:
    return from_ms(ms, tz).strftime(WALL)


def _js_number(x: float) -> str:
    """A number as the page used to print it (JavaScript's shortest form: 10, 1.5)."""
    return str(int(x)) if float(x).is_integer() else repr(x)


def _plain(fig: go.Figure, config: Mapping[str, Any]) -> dict[str, Any]:
    fig.layout.template = None  # Plotly.js's own defaults, not plotly.py's theme
    out: dict[str, Any] = fig.to_plotly_json()
    return {"data": out["data"], "layout": out["layout"], "config": dict(config)}


def screen_figure(snap: Mapping[str, Any], masked: bool) -> dict[str, Any]:
    """The big screen's chart for a snapshot: GMV per minute (bars, the open minute's
    faint), its velocity over the rule's window (complete minutes solid; to the open
    minute dotted, at its pace so far: never a plunge to zero), the cumulative GMV and the straight pace
    to the base target, and a marked line per stimulus fire. Masked: percent of the
    base target instead of money."""
    c = snap["campaign"]
    tz = c["timezone"]
    starts, ends, now = _ms(c["starts_at"]), _ms(c["ends_at"]), _ms(c["now"])
    goal = snap["target"].get("base_fen") or 0
    by_minute = {_ms(r["minute"]): r["gmv_fen"] for r in snap["per_minute"]}
    scale = (100 / goal if goal else 0) if masked else 1 / FEN_PER_WAN
    first = min([starts, *by_minute])
    last = min(max(now, first), ends + MINUTE_MS)
    window = (snap.get("velocity") or {}).get("window_minutes") or 10
    velocity = window_series(by_minute, first, now, window)
    x: list[str] = []
    bars: list[float] = []
    vel: list[float | None] = []
    cum: list[float] = []
    total = 0
    for i, m in enumerate(range(minute_floor(first), last + 1, MINUTE_MS)):
        v = by_minute.get(m, 0)
        total += v
        x.append(_wall(m, tz))
        bars.append(v * scale)
        cum.append(total * scale)
        vel.append(velocity[i] * scale if i < len(velocity) else None)
    open_at = minute_floor(now)
    is_open = now < ends and bool(x) and open_at == minute_floor(first) + (len(x) - 1) * MINUTE_MS
    fig = go.Figure()
    # the open minute's bar is still filling: drawn faint, never read as a slump
    colors = [OPEN_BAR if is_open and i == len(x) - 1 else BARS for i in range(len(x))]
    fig.add_bar(x=x, y=bars, name="每分钟", marker={"color": colors}, yaxis="y")
    fig.add_scatter(mode="lines", x=x, y=vel, name="速度", yaxis="y",
                    line={"color": VELOCITY, "width": 3, "shape": "spline"})  # fmt: skip
    if is_open and len(velocity) >= 1 and len(x) >= 2:
        # The open minute: a dashed step from the last complete minute's velocity to
        # its pace so far (its sales scaled to a whole minute), not a drop to zero.
        pace = open_pace(by_minute.get(open_at, 0), now - open_at)
        recent = [by_minute.get(open_at - k * MINUTE_MS, 0) for k in range(1, window)]
        ahead = (sum(recent) + pace) / window if pace is not None else velocity[-1]
        fig.add_scatter(mode="lines", x=x[-2:], y=[velocity[-1] * scale, ahead * scale],
                        name="速度（进行中）", yaxis="y",
                        line={"color": VELOCITY, "width": 3, "dash": "dot"})  # fmt: skip
    fig.add_scatter(mode="lines", x=x, y=cum, name="累计", yaxis="y2",
                    line={"color": CUMULATIVE, "width": 4})  # fmt: skip
    if goal:
        fig.add_scatter(mode="lines", x=[_wall(starts, tz), _wall(ends, tz)], y=[0, goal * scale],
                        name="目标进度", yaxis="y2",
                        line={"color": "rgba(170,180,220,0.7)", "width": 2, "dash": "dash"})  # fmt: skip
    shapes, notes = [], []
    for i, s in enumerate(snap["stimuli"]):
        at = _wall(_ms(s["at"]), tz)
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": at, "x1": at,
                       "y0": 0, "y1": 1, "line": {"color": STIMULUS, "width": 2, "dash": "dot"}})  # fmt: skip
        notes.append({  # staggered, so fires close together stay readable
            "xref": "x", "yref": "paper", "x": at, "y": 1 - (i % 3) * 0.1,
            "yanchor": "top", "xanchor": "left", "showarrow": False,
            "text": f"{action_emoji(s['kind'])} {action_title(s['kind'])}",
            "font": {"color": "#ffd2d7", "size": 15}, "bgcolor": "rgba(200,30,50,0.75)",
            "borderpad": 3,
        })  # fmt: skip
    unit = "%" if masked else "万"
    fig.update_layout(
        margin={"l": 64, "r": 70, "t": 30, "b": 36},
        paper_bgcolor=CLEAR,
        plot_bgcolor=CLEAR,
        font={"family": "inherit", "color": INK, "size": 15},
        showlegend=False,
        bargap=0.15,
        xaxis={
            "type": "date",
            "range": [_wall(starts, tz), _wall(ends, tz)],
            "tickformat": "%H:%M",
            "gridcolor": "rgba(255,255,255,0.05)",
            "linecolor": "rgba(255,255,255,0.15)",
        },  # fmt: skip
        yaxis={
            "title": {"text": f"每分钟 ({unit})", "font": {"size": 14}},
            "gridcolor": "rgba(255,255,255,0.06)",
            "zeroline": False,
            "rangemode": "tozero",
        },  # fmt: skip
        yaxis2={
            "title": {"text": f"累计 ({unit})", "font": {"size": 14}},
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "zeroline": False,
            "rangemode": "tozero",
        },  # fmt: skip
        shapes=shapes,
        annotations=notes,
    )
    return _plain(fig, SCREEN_CONFIG)


# the retrospective

GRID = "rgba(255,255,255,0.07)"


def _review_layout() -> dict[str, Any]:
    return {
        "margin": {"l": 60, "r": 64, "t": 24, "b": 36},
        "paper_bgcolor": CLEAR,
        "plot_bgcolor": CLEAR,
        "font": {"family": "inherit", "color": INK, "size": 13},
        "showlegend": True,
        "legend": {"orientation": "h", "y": 1.12},
        "xaxis": {"type": "date", "tickformat": "%H:%M", "gridcolor": GRID},
        "yaxis": {"gridcolor": GRID, "zeroline": False, "rangemode": "tozero"},
    }


def _review_wall(text: str) -> str:
    # RFC 3339 in the campaign zone: its first 19 characters are the wall clock
    return text[:19].replace("T", " ")


def review_figures(d: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The retrospective's day curve (`curve`) and membership chart (`members`) from
    the page's chart data (warroom/core/review/page.py `chart_data`)."""
    x = [_review_wall(t) for t in d["x"]]
    start, end = _review_wall(d["start"]), _review_wall(d["end"])
    config = {"displayModeBar": False, "responsive": True}
    curve = go.Figure()
    curve.add_bar(x=x, y=[v / FEN_PER_WAN for v in d["gmv_fen"]], name="每分钟 GMV（万）",
                  marker={"color": BARS})  # fmt: skip
    curve.add_scatter(mode="lines", x=x, y=[v / FEN_PER_WAN for v in d["cum_fen"]],
                      name="累计（万）", yaxis="y2", line={"color": CUMULATIVE, "width": 3})  # fmt: skip
    if d["base_fen"]:
        curve.add_scatter(mode="lines", x=[start, end], y=[0, d["base_fen"] / FEN_PER_WAN],
                          name="目标进度线", yaxis="y2",
                          line={"color": "rgba(170,180,220,0.8)", "width": 2, "dash": "dash"})  # fmt: skip
    shapes, notes = [], []
    for key in ("base_fen", "stretch_fen"):
        if d[key]:
            y = d[key] / FEN_PER_WAN
            shapes.append({"type": "line", "xref": "paper", "yref": "y2", "x0": 0, "x1": 1,
                           "y0": y, "y1": y,
                           "line": {"color": "rgba(255,77,94,0.5)", "width": 1, "dash": "dot"}})  # fmt: skip
    for i, m in enumerate(d["marks"]):
        stim = m["kind"] == "stimulus"
        at = _review_wall(m["x"])
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": at, "x1": at,
                       "y0": 0, "y1": 1,
                       "line": {"color": STIMULUS if stim else "rgba(255,194,74,0.8)",
                                "width": 1.5, "dash": "dot" if stim else "dash"}})  # fmt: skip
        label = (
            f"▼ {m['label']}" if stim else f"◆ {m['label']} {_js_number(m['fen'] / FEN_PER_WAN)}万"
        )
        notes.append({"xref": "x", "yref": "paper", "x": at,
                      "y": 0.98 - (i % 3) * 0.08 if stim else 0.02 + (i % 3) * 0.08,
                      "yanchor": "top" if stim else "bottom", "xanchor": "left",
                      "showarrow": False, "text": label,
                      "font": {"size": 12, "color": "#ffd2d7" if stim else "#ffe6a8"},
                      "bgcolor": "rgba(200,30,50,0.7)" if stim else "rgba(120,80,0,0.7)",
                      "borderpad": 2})  # fmt: skip
    layout = _review_layout()
    layout["xaxis"]["range"] = [start, end]
    layout["yaxis"]["title"] = {"text": "每分钟（万）"}
    curve.update_layout(
        layout,
        yaxis2={
            "title": {"text": "累计（万）"},
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "rangemode": "tozero",
        },  # fmt: skip
        shapes=shapes,
        annotations=notes,
        bargap=0.1,
    )
    members = go.Figure()
    members.add_bar(x=x, y=d["joins"], name="入群", marker={"color": "#24d08f"})
    # -0.0, not 0, for a minute nobody left: the page always drew negated counts, and
    # Plotly's autorange (hence the ticks) tells -0 from 0
    leaves = [-float(v) for v in d["leaves"]]
    members.add_bar(x=x, y=leaves, name="退群", marker={"color": "#ff4d5e"})
    members.update_layout(_review_layout(), barmode="relative",
                          margin={"l": 40, "r": 10, "t": 24, "b": 30})  # fmt: skip
    return {"curve": _plain(curve, config), "members": _plain(members, config)}
