"""The product's shared words for states and marks: one word per state and one name per
mark kind, on every page, report and terminal (issue 23). Screens read them through
warroom/web/pages/vocab.py; the review and the reports read them here. Pure."""

from __future__ import annotations

# A campaign's state (web/models.State). "收官" is the product's word for the close
# (收官战报, 预计收官), so the state after it is 已收官, never 已结束.
STATE_LABELS: dict[str, str] = {"upcoming": "未开始", "live": "进行中", "ended": "已收官"}
ENDED = STATE_LABELS["ended"]

# A mark on the cumulative line. A milestone equal to a target is that target's mark
# (one amount, one name): the review's timeline and the final 战报 both name it so.
MARK_LABELS: dict[str, str] = {"milestone": "里程碑", "base": "基础目标", "stretch": "冲刺目标"}
REACHED = "达成"  # "基础目标达成": a target's mark as a moment


def mark_kinds(
    milestones_fen: list[int] | tuple[int, ...], base_fen: int, stretch_fen: int
) -> dict[int, str]:
    """Each marked amount and its kind ("milestone", "base", "stretch"); a target wins
    over a milestone of the same amount, the base target over an equal stretch one."""
    kinds = {m: "milestone" for m in milestones_fen if m > 0}
    if stretch_fen > 0:
        kinds[stretch_fen] = "stretch"
    if base_fen > 0:
        kinds[base_fen] = "base"
    return kinds
