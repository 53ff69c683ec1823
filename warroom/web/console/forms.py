"""The console's forms: text from the operator in, campaign settings out, with an error
in Chinese beside each field. Money is typed in 元 and stored in fen exactly: parsed
with a regular expression into integers, never through float."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from warroom.core.campaign import CampaignSettings, StimulusRule
from warroom.core.ingest.clock import from_ms
from warroom.core.ingest.money import MAX_AMOUNT_FEN, format_yuan


class FieldError(ValueError):
    pass


_YUAN = re.compile(r"^(-)?(\d+)(?:\.(\d{1,2}))?$")
_DECIMAL = re.compile(r"^-?\d+\.\d+$")
_INT = re.compile(r"^-?\d+$")


def parse_yuan(text: str, *, required: bool = True) -> int | None:
    """'1,000,000' / '¥888' / '12.5' 元 -> fen. Rejects negatives, more than two
    decimals (1.005 元 is not a whole number of fen), and anything not a number."""
    raw = (text or "").strip().replace(",", "").replace("，", "").replace(" ", "")
    raw = raw.removeprefix("¥").removeprefix("￥").removesuffix("元")
    if not raw:
        if required:
            raise FieldError("请填写金额")
        return None
    m = _YUAN.match(raw)
    if m is None:
        if _DECIMAL.match(raw):
            raise FieldError("金额最多精确到分（两位小数）")
        raise FieldError("请输入数字金额（单位：元）")
    if m.group(1):
        raise FieldError("金额不能为负数")
    fen = int(m.group(2)) * 100 + int((m.group(3) or "0").ljust(2, "0"))
    if fen > MAX_AMOUNT_FEN * 1000:
        raise FieldError("金额过大")
    return fen


def yuan_text(fen: int | None) -> str:
    """fen -> the text the form shows (no ¥, no thousands separators)."""
    if fen is None:
        return ""
    yuan, cents = divmod(fen, 100)
    return f"{yuan}.{cents:02d}" if cents else str(yuan)


def parse_int(text: str, lo: int, hi: int, what: str = "数值") -> int:
    raw = (text or "").strip()
    if not _INT.match(raw):
        raise FieldError(f"请输入整数{what}")
    value = int(raw)
    if not lo <= value <= hi:
        raise FieldError(f"应在 {lo} 到 {hi} 之间")
    return value


def parse_percent(text: str) -> float:
    raw = (text or "").strip().removesuffix("%")
    try:
        value = float(raw)
    except ValueError:
        raise FieldError("请输入百分比，例如 50") from None
    if not 0 <= value <= 100:
        raise FieldError("应在 0 到 100 之间")
    return round(value / 100, 4)


def parse_local(text: str, tz: str) -> int:
    """'2026-11-11T10:00' (an <input type=datetime-local>) in the campaign's zone -> ms."""
    raw = (text or "").strip()
    if not raw:
        raise FieldError("请填写时间")
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise FieldError("时间格式应为 2026-11-11 10:00") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(tz))
    return int(dt.timestamp() * 1000)


def local_text(ms: int, tz: str) -> str:
    return from_ms(ms, tz).strftime("%Y-%m-%dT%H:%M")


FIELD_LABELS = {
    "slug": "活动标识",
    "name": "活动名称",
    "starts_at": "开始时间",
    "ends_at": "结束时间",
    "timezone": "时区",
    "target_base_fen": "基础目标",
    "target_stretch_fen": "冲刺目标",
    "milestones_fen": "里程碑",
    "report_every_minutes": "定时战报间隔",
    "leaderboard_size": "榜单人数",
    "time_scale": "时间倍速",
    "stimulus_budget_fen": "刺激预算",
}

_MODEL_MESSAGES = {
    "ends_at must be after starts_at": ("ends_at", "结束时间必须晚于开始时间"),
    "target_stretch_fen must not be below target_base_fen": (
        "target_stretch_fen",
        "冲刺目标不能低于基础目标",
    ),
    "stimulus rule names must be unique": ("stimulus_rules", "规则名称不能重复"),
}


def _errors_of(exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if msg in _MODEL_MESSAGES:
            field, text = _MODEL_MESSAGES[msg]
            out.setdefault(field, text)
            continue
        field = loc[0] if loc else "form"
        if field == "slug":
            text = "只能用小写字母、数字和短横线，最长 63 个字符"
        elif field == "timezone":
            text = "未知时区，例如 Asia/Shanghai"
        elif err["type"] == "missing":
            text = "必填"
        else:
            text = f"取值不合法（{msg}）"
        out.setdefault(field, text)
    return out


def campaign_from_form(
    form: Mapping[str, Any], current: CampaignSettings | None = None
) -> tuple[CampaignSettings | None, dict[str, str]]:
    """The settings a campaign form describes (rules and pause flag kept from
    `current`), or the errors by field name."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {}
    tz = str(form.get("timezone") or "Asia/Shanghai").strip()
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = "未知时区，例如 Asia/Shanghai"
        tz = "Asia/Shanghai"
    data["timezone"] = tz
    data["slug"] = current.slug if current else str(form.get("slug", "")).strip()
    data["name"] = str(form.get("name", "")).strip()
    if not data["name"]:
        errors["name"] = "请填写活动名称"

    def take(field: str, parse: Any) -> None:
        try:
            data[field] = parse(str(form.get(field, "")))
        except FieldError as exc:
            errors[field] = str(exc)

    take("starts_at", lambda t: parse_local(t, tz))
    take("ends_at", lambda t: parse_local(t, tz))
    take("target_base_fen", lambda t: parse_yuan(t))
    take("target_stretch_fen", lambda t: parse_yuan(t, required=False) or 0)
    take("stimulus_budget_fen", lambda t: parse_yuan(t, required=False))
    take("report_every_minutes", lambda t: parse_int(t, 1, 1440, "分钟"))
    take("leaderboard_size", lambda t: parse_int(t, 1, 100, "人数"))
    take("time_scale", lambda t: parse_int(t or "1", 1, 3600, "倍速"))
    milestones = []
    for part in re.split(r"[,，\s]+", str(form.get("milestones", "")).strip()):
        if not part:
            continue
        try:
            fen = parse_yuan(part)
        except FieldError as exc:
            errors["milestones"] = f"“{part[:20]}”：{exc}"
            break
        if not fen:
            errors["milestones"] = "里程碑必须大于 0"
            break
        milestones.append(fen)
    data["milestones_fen"] = milestones
    if current is not None:
        data["stimulus_rules"] = [r.model_dump() for r in current.stimulus_rules]
        data["rules_paused"] = current.rules_paused
    if errors:
        return None, errors
    try:
        return CampaignSettings.model_validate(data, strict=False), {}
    except ValidationError as exc:
        found = _errors_of(exc)
        if "milestones_fen" in found:
            found["milestones"] = found.pop("milestones_fen")
        return None, found


def campaign_form_values(s: CampaignSettings | None) -> dict[str, str]:
    if s is None:
        return {
            "timezone": "Asia/Shanghai",
            "report_every_minutes": "30",
            "leaderboard_size": "10",
            "time_scale": "1",
            "target_stretch_fen": "",
        }
    return {
        "slug": s.slug,
        "name": s.name,
        "timezone": s.timezone,
        "starts_at": local_text(s.starts_at, s.timezone),
        "ends_at": local_text(s.ends_at, s.timezone),
        "target_base_fen": yuan_text(s.target_base_fen),
        "target_stretch_fen": yuan_text(s.target_stretch_fen) if s.target_stretch_fen else "",
        "stimulus_budget_fen": yuan_text(s.stimulus_budget_fen),
        "report_every_minutes": str(s.report_every_minutes),
        "leaderboard_size": str(s.leaderboard_size),
        "time_scale": str(int(s.time_scale)),
        "milestones": ", ".join(yuan_text(m) for m in s.milestones_fen),
    }


# stimulus rules ------------------------------------------------------------------------

ACTION_NAMES = {"red_packet_rain": "红包雨", "buy_n_gift": "买赠福利", "announcement": "通知"}


def rule_from_form(form: Mapping[str, Any]) -> tuple[StimulusRule | None, dict[str, str]]:
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"name": str(form.get("name", "")).strip()}
    if not data["name"]:
        errors["name"] = "请填写规则名称"
    metric = str(form.get("metric", "gmv_per_min"))
    data["metric"] = metric if metric in ("gmv_per_min", "orders_per_min") else "gmv_per_min"
    kind = str(form.get("kind", "red_packet_rain"))
    if kind not in ACTION_NAMES:
        errors["kind"] = "未知动作"

    def take(field: str, parse: Any) -> Any:
        try:
            data[field] = parse(str(form.get(field, "")))
        except FieldError as exc:
            errors[field] = str(exc)

    take("window_minutes", lambda t: parse_int(t, 1, 240, "分钟"))
    take("below_peak_ratio", parse_percent)
    if data["metric"] == "gmv_per_min":
        take("floor", lambda t: parse_yuan(t, required=False) or 0)
    else:
        take("floor", lambda t: parse_int(t or "0", 0, 10**9, "单数"))
    take("sustain_minutes", lambda t: parse_int(t, 0, 240, "分钟"))
    take("cooldown_minutes", lambda t: parse_int(t, 0, 1440, "分钟"))
    take("max_fires", lambda t: parse_int(t, 1, 1000, "次数"))
    amount: int | None = 0
    try:
        amount = parse_yuan(str(form.get("amount", "")), required=False) or 0
    except FieldError as exc:
        errors["amount"] = str(exc)
    text = str(form.get("text", "")).strip()
    if len(text) > 500:
        errors["text"] = "文案最多 500 字"
    if errors:
        return None, errors
    data["action"] = {"kind": kind, "amount_fen": amount, "text": text}
    try:
        return StimulusRule.model_validate(data, strict=False), {}
    except ValidationError as exc:
        return None, _errors_of(exc)


def rule_form_values(rule: StimulusRule | None) -> dict[str, str]:
    if rule is None:
        return {
            "metric": "gmv_per_min",
            "window_minutes": "5",
            "below_peak_ratio": "50",
            "floor": "",
            "sustain_minutes": "2",
            "cooldown_minutes": "20",
            "max_fires": "3",
            "kind": "red_packet_rain",
            "amount": "",
            "text": "",
        }
    return {
        "name": rule.name,
        "metric": rule.metric,
        "window_minutes": str(rule.window_minutes),
        "below_peak_ratio": f"{rule.below_peak_ratio * 100:g}",
        "floor": (yuan_text(rule.floor) if rule.metric == "gmv_per_min" else str(rule.floor))
        if rule.floor
        else "",
        "sustain_minutes": str(rule.sustain_minutes),
        "cooldown_minutes": str(rule.cooldown_minutes),
        "max_fires": str(rule.max_fires),
        "kind": rule.action.kind,
        "amount": yuan_text(rule.action.amount_fen) if rule.action.amount_fen else "",
        "text": rule.action.text,
    }


def rule_preview(rule: StimulusRule) -> str:
    """当 5 分钟 GMV 速度低于峰值的 50% 持续 2 分钟时，发 ¥888 红包雨；冷却 20 分钟，最多 3 次"""
    what = "GMV 速度" if rule.metric == "gmv_per_min" else "订单速度"
    cond = f"低于峰值的 {rule.below_peak_ratio * 100:g}%"
    if rule.floor:
        floor = (
            f"{format_yuan(rule.floor)}/分钟"
            if rule.metric == "gmv_per_min"
            else f"{rule.floor} 单/分钟"
        )
        cond += f"或低于 {floor}"
    when = f" 持续 {rule.sustain_minutes} 分钟时" if rule.sustain_minutes else " 时"
    a = rule.action
    if a.kind == "announcement":
        act = "发布通知"
    else:
        money = f"{format_yuan(a.amount_fen)} " if a.amount_fen else ""
        act = f"发 {money}{ACTION_NAMES[a.kind]}"
    return (
        f"当 {rule.window_minutes} 分钟 {what}{cond}{when}，{act}；"
        f"冷却 {rule.cooldown_minutes} 分钟，最多 {rule.max_fires} 次"
    )
