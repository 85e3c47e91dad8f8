"""Render the shipped sample images (samples/*.png) from text, with Debian fonts.

Run once by a developer; the PNGs are committed so `make demo` needs no fonts at all.
    .venv/bin/python scripts/make_samples.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ZH = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"  # face 2: Simplified Chinese
EN = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
OUT = Path(__file__).resolve().parents[1] / "samples"

PAGE = [
    "增值税普通发票",
    "发票号码：No.04418862",
    "开票日期：2026年11月20日",
    "购买方名称：北京星海科技有限公司",
    "Invoice total: ¥1,280.00",
    "价税合计（大写）壹仟贰佰捌拾元整",
    "联系电话：010-62751234",
    "Email: billing@example.com",
]


def main() -> None:
    OUT.mkdir(exist_ok=True)
    zh = ImageFont.truetype(ZH, 30, index=2)
    img = Image.new("L", (760, 60 + 56 * len(PAGE)), 255)
    draw = ImageDraw.Draw(img)
    for i, text in enumerate(PAGE):
        draw.text((40, 30 + 56 * i), text, font=zh, fill=20)
    img.save(OUT / "invoice_zh_en.png")
    en = ImageFont.truetype(EN, 28)
    line = Image.new("L", (520, 48), 250)
    ImageDraw.Draw(line).text((12, 8), "Offline OCR on the CPU", font=en, fill=30)
    line.save(OUT / "line_en.png")
    zline = Image.new("L", (420, 52), 250)
    ImageDraw.Draw(zline).text((12, 6), "离线识别中文文本", font=zh, fill=30)
    zline.save(OUT / "line_zh.png")
    (OUT / "invoice_zh_en.txt").write_text("\n".join(PAGE) + "\n", encoding="utf-8")
    print(f"wrote samples to {OUT}")


if __name__ == "__main__":
    main()
