"""Draw a `PosterSpec` as a portrait PNG with Pillow and a CJK font found on the system.

The font: `WARROOM_POSTER_FONT` if set, else the first of the usual places of Debian's
`fonts-noto-cjk` (and a few other CJK fonts). Without one, `FontMissing` says so and
the caller answers 503 with the report's text (the text-only path): a poster of boxes
would be worse than none.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from warroom.core.reports.poster import PosterSpec

WIDTH = 1080
MAX_BYTES = 2 * 1024 * 1024
CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
# Inside Noto's .ttc files the faces are JP, KR, SC, TC, HK: SC draws simplified
# Chinese glyph forms.
NOTO_SC_INDEX = 2

BG_TOP, BG_BOTTOM = (120, 12, 28), (28, 6, 40)
GOLD, WHITE, SOFT, DIM = (255, 206, 92), (255, 255, 255), (255, 226, 214), (230, 180, 190)
MEDAL_COLORS = ((255, 196, 60), (205, 214, 230), (222, 146, 90))


_TOKENS = re.compile(r"¥•••|[¥￥]?[\w.,:%/+\-]+|\s+|.", re.ASCII)


class FontMissing(RuntimeError):
    pass


def find_font(configured: str | None) -> str:
    if configured:
        if Path(configured).is_file():
            return configured
        raise FontMissing(f"WARROOM_POSTER_FONT={configured} is not a file")
    for c in CANDIDATES:
        if Path(c).is_file():
            return c
    raise FontMissing(
        "no CJK font found: install Debian's fonts-noto-cjk or set WARROOM_POSTER_FONT"
    )


@lru_cache(maxsize=32)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    index = NOTO_SC_INDEX if "NotoSansCJK" in path or "NotoSerifCJK" in path else 0
    try:
        return ImageFont.truetype(path, size, index=index)
    except OSError:
        return ImageFont.truetype(path, size)


def _fit(
    draw: ImageDraw.ImageDraw, text: str, path: str, size: int, width: int
) -> ImageFont.FreeTypeFont:
    """The largest font up to `size` that fits `text` in `width` pixels."""
    while size > 18:
        font = _font(path, size)
        if draw.textlength(text, font=font) <= width:
            return font
        size -= 4
    return _font(path, size)


def _wrap(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int
) -> list[str]:
    lines, line = [], ""
    for tok in _TOKENS.findall(text):  # CJK breaks anywhere; numbers and ¥••• stay whole
        if draw.textlength(line + tok, font=font) > width and line:
            lines.append(line)
            line = tok.lstrip()
        else:
            line += tok
    if line:
        lines.append(line)
    return lines[:3]


def render_png(spec: PosterSpec, font_path: str) -> bytes:
    margin, inner = 72, WIDTH - 2 * 72
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    fact_font = _font(font_path, 38)
    # (first line of its fact?, text): a wrapped fact gets one bullet, not one per line
    facts = [
        (n == 0, w)
        for f in spec.facts
        for n, w in enumerate(_wrap(probe, f, fact_font, inner - 40))
    ]
    head_font = _font(font_path, 52)
    head_lines = _wrap(probe, spec.headline, head_font, inner)
    height = 1500 + 64 * max(0, len(facts) - 4) + 70 * max(0, len(head_lines) - 2)
    height += 0 if spec.top3 else -300
    img = Image.new("RGB", (WIDTH, height))
    d = ImageDraw.Draw(img)
    for y in range(height):  # vertical gradient, one row at a time
        t = y / max(1, height - 1)
        color = tuple(int(a + (b - a) * t) for a, b in zip(BG_TOP, BG_BOTTOM, strict=True))
        d.line([(0, y), (WIDTH, y)], fill=color)
    y = 70
    d.rounded_rectangle([margin, y, margin + 260, y + 64], radius=32, fill=GOLD)
    d.text(
        (margin + 130, y + 32), spec.kind_title, font=_font(font_path, 34), fill=BG_TOP, anchor="mm"
    )
    d.text((WIDTH - margin, y + 32), spec.campaign, font=_fit(d, spec.campaign, font_path, 30, 560),
           fill=SOFT, anchor="rm")  # fmt: skip
    y += 120
    for line in head_lines:
        d.text((margin, y), line, font=head_font, fill=WHITE)
        y += 70
    y += 40
    if spec.big_number:
        d.text((WIDTH // 2, y), spec.big_label, font=_font(font_path, 40), fill=SOFT, anchor="mt")
        y += 64
        big = _fit(d, spec.big_number, font_path, 170, inner)
        d.text((WIDTH // 2, y), spec.big_number, font=big, fill=GOLD, anchor="mt")
        y += 220
    if spec.top3:
        d.rounded_rectangle([margin, y, WIDTH - margin, y + 290], radius=28, fill=(96, 14, 36),
                            outline=(255, 206, 92), width=2)  # fmt: skip
        y += 24
        for n, name in enumerate(spec.top3):
            cy = y + 40 + n * 86
            d.ellipse([margin + 30, cy - 30, margin + 90, cy + 30], fill=MEDAL_COLORS[n])
            d.text(
                (margin + 60, cy), str(n + 1), font=_font(font_path, 36), fill=BG_TOP, anchor="mm"
            )
            d.text((margin + 115, cy), name, font=_fit(d, name, font_path, 44, inner - 160), fill=WHITE,
                   anchor="lm")  # fmt: skip
        y += 300
    y += 20
    for first, f in facts:
        if first:
            d.ellipse([margin + 4, y + 20, margin + 16, y + 32], fill=GOLD)
        d.text((margin + 36, y), f, font=fact_font, fill=SOFT)
        y += 64
    y = max(y + 30, height - 250)
    if spec.cta:
        d.rounded_rectangle([margin, y, WIDTH - margin, y + 110], radius=55, fill=GOLD)
        d.text((WIDTH // 2, y + 55), spec.cta, font=_fit(d, spec.cta, font_path, 44, inner - 60),
               fill=BG_TOP, anchor="mm")  # fmt: skip
    d.text((WIDTH // 2, height - 60), spec.footer, font=_fit(d, spec.footer, font_path, 28, inner),
           fill=DIM, anchor="mm")  # fmt: skip
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    data = out.getvalue()
    if len(data) > MAX_BYTES:  # a gradient with many colours: a palette keeps it small
        out = io.BytesIO()
        img.quantize(colors=128).save(out, format="PNG", optimize=True)
        data = out.getvalue()
    return data


WECOM_IMAGE_MAX_BYTES = 2 * 1024 * 1024  # the robot's limit, before base64


def wecom_image(png: bytes) -> dict[str, Any]:
    """A WeCom group-robot `image` message (base64 and md5 of the raw PNG). The robot
    refuses images over 2 MB, which a poster never reaches (see `render_png`)."""
    if len(png) > WECOM_IMAGE_MAX_BYTES:
        raise ValueError(f"image is {len(png)} bytes; the WeCom robot takes at most 2 MB")
    return {
        "msgtype": "image",
        "image": {"base64": base64.b64encode(png).decode(), "md5": hashlib.md5(png).hexdigest()},
    }
