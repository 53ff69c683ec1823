"""Money is an integer number of fen everywhere; these helpers only format it."""

from __future__ import annotations

MAX_AMOUNT_FEN = 10**11
FEN_PER_YUAN = 100
FEN_PER_WAN = 100 * 10_000


def format_wan(fen: int, decimals: int = 2) -> str:
    """¥158.36万 for 1,583,600 CNY; amounts below 1万 are shown in yuan.

    One precision per figure: a rounded amount keeps its zeros (¥4.00万, ¥4.50万), so
    a column never mixes "¥4万" with "¥4.57万"; only an amount the digits state
    exactly drops them (a target of ¥100万, a threshold of ¥1.5万)."""
    if abs(fen) < FEN_PER_WAN:
        return format_yuan(fen)
    sign = "-" if fen < 0 else ""  # before the ¥, as format_yuan writes it
    wan = abs(fen) / FEN_PER_WAN
    text = f"{wan:.{decimals}f}"
    if (abs(fen) * 10**decimals) % FEN_PER_WAN == 0 and "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{sign}¥{text}万"


def format_yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), FEN_PER_YUAN)
    if cents:
        return f"{sign}¥{yuan:,}.{cents:02d}"
    return f"{sign}¥{yuan:,}"
