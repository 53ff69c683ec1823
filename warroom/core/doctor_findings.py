"""`warroom doctor`'s findings: what one check found, and how a list of them reads and
exits (core/doctor_rules.py decides each one)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Status = Literal["OK", "INFO", "WARN", "FAIL"]
STATUSES: tuple[Status, ...] = ("FAIL", "WARN", "INFO", "OK")


@dataclass(frozen=True)
class Finding:
    status: Status
    check: str  # a stable name, e.g. "redis.eviction"
    found: str
    change: str = ""  # what to do; empty when there is nothing to change

    def as_dict(self) -> dict[str, str]:
        return {
            "status": self.status,
            "check": self.check,
            "found": self.found,
            "change": self.change,
        }


def exit_code(findings: Iterable[Finding]) -> int:
    """1 when anything FAILs (a deployment that must not take a sale as it is), else 0."""
    return 1 if any(f.status == "FAIL" for f in findings) else 0


def render(findings: Sequence[Finding]) -> str:
    """One line per finding (status, check, what was found), the change indented below."""
    width = max((len(f.check) for f in findings), default=0)
    lines: list[str] = []
    for f in findings:
        lines.append(f"{f.status:<4}  {f.check:<{width}}  {f.found}")
        if f.change:
            lines.append(f"{'':<4}  {'':<{width}}  -> {f.change}")
    counts = {s: sum(1 for f in findings if f.status == s) for s in STATUSES}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing checked")
    return "\n".join(lines)
