"""Synthetic Chinese VAT invoices (增值税发票) with their truth, rendered deterministically.

``invoice(seed)`` draws the fields of one invoice from ``random.Random(seed)`` and renders a page
laid out as a printed VAT invoice is: the title with the invoice code, number, date and check code
beside it, the buyer's block (名称, 纳税人识别号, ...), an item table with its 合计 row, the 价税合计
row in words (大写) and figures (小写), and the seller's block. Fonts, sizes, margins and the
scan quality (blur, noise, a slight tilt) vary with the seed; the fonts are Debian's CJK packages
(fonts-noto-cjk, fonts-wqy-microhei, fonts-wqy-zenhei).

The truth is each field's value as ``crnn_ocr.fields`` gives it (``Field.value``), except
``total_in_words``, whose printed words are compared (``Field.text``). Taxpayer ids are valid
unified social credit codes (their check character computed), and amounts add up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from crnn_ocr.validate import USCC_CHARS, amount_in_words, money, uscc_check_char

FONTS = tuple(
    p
    for p in (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
        "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
        "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    )
    if Path(p).is_file()
)

CITIES = ("北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "苏州", "天津", "重庆", "厦门", "青岛")
WORDS = ("星海", "华信", "博远", "明德", "恒泰", "金桥", "远航", "新创", "瑞丰", "天成", "中科", "云帆", "嘉禾", "鼎盛")
TRADES = ("科技", "贸易", "餐饮管理", "信息技术", "商贸", "建筑工程", "文化传媒", "物流", "电子", "医药")
ITEMS = (
    ("*信息技术服务*技术服务费", "次"),
    ("*办公用品*打印纸", "箱"),
    ("*餐饮服务*餐费", "次"),
    ("*计算机配套产品*键盘", "个"),
    ("*运输服务*运输费", "次"),
    ("*文具*签字笔", "盒"),
)
RATES = (Decimal("0.06"), Decimal("0.13"), Decimal("0.03"), Decimal("0.09"))


@dataclass(frozen=True)
class Invoice:
    image: np.ndarray  # uint8 HxW grey
    truth: dict[str, str]  # field name -> expected value (total_in_words: the printed words)


def company(rng: random.Random) -> str:
    return rng.choice(CITIES) + rng.choice(WORDS) + rng.choice(TRADES) + "有限公司"


def credit_code(rng: random.Random) -> str:
    """A valid 18-character unified social credit code (GB 32100-2015)."""
    head = "91" + "".join(rng.choice("0123456789") for _ in range(6))
    org = "".join(rng.choice(USCC_CHARS) for _ in range(9))
    return head + org + uscc_check_char(head + org)


def fields(rng: random.Random) -> dict[str, str]:
    total = Decimal(rng.randint(1000, 5_000_000)) / 100
    rate = rng.choice(RATES)
    amount = (total / (1 + rate)).quantize(Decimal("0.01"))
    tax = total - amount
    year, month, day = rng.randint(2017, 2025), rng.randint(1, 12), rng.randint(1, 28)
    return {
        "invoice_code": "".join(rng.choice("0123456789") for _ in range(rng.choice((10, 12)))),
        "invoice_number": "".join(rng.choice("0123456789") for _ in range(8)),
        "issue_date": f"{year:04d}-{month:02d}-{day:02d}",
        "check_code": "".join(rng.choice("0123456789") for _ in range(20)),
        "buyer_name": company(rng),
        "buyer_tax_id": credit_code(rng),
        "seller_name": company(rng),
        "seller_tax_id": credit_code(rng),
        "amount": money(amount),
        "tax": money(tax),
        "total": money(total),
        "total_in_words": amount_in_words(total),
        "rate": f"{int(rate * 100)}%",
    }


def invoice(seed: int) -> Invoice:
    rng = random.Random(seed)
    f = fields(rng)
    font_path = FONTS[seed % len(FONTS)]
    size = rng.choice((22, 24, 26, 28))
    width, height = 1500, 30 * size + 200
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)

    def text(x: float, y: float, s: str, scale: float = 1.0) -> None:
        draw.text((x, y), s, fill=rng.randint(0, 50), font=ImageFont.truetype(font_path, round(size * scale)))

    m = rng.randint(30, 70)
    y = m
    d = f["issue_date"].split("-")
    check = f["check_code"]
    check_printed = " ".join(check[i : i + 5] for i in range(0, 20, 5)) if seed % 2 else check
    city = f["seller_name"][:2]
    text(m + 220, y + size * 0.5, f"{city}增值税{rng.choice(('普通', '专用'))}发票", 1.5)
    right = width - m - 19 * size
    for label, value in (
        ("发票代码", f["invoice_code"]),
        ("发票号码", f["invoice_number"]),
        ("开票日期", f"{d[0]} 年 {d[1]} 月 {d[2]} 日" if seed % 3 == 0 else f"{d[0]}年{d[1]}月{d[2]}日"),
        ("校 验 码" if seed % 4 == 0 else "校验码", check_printed),
    ):
        text(right, y, f"{label}：{value}")
        y += size * 1.6
    y += size * 0.6

    def party(role: str, name: str, tax_id: str) -> None:
        nonlocal y
        text(m, y + size * 1.6, role)
        x = m + 4 * size
        text(x, y, f"名      称：{name}" if seed % 5 == 0 else f"名称：{name}")
        y += size * 1.6
        text(x, y, f"纳税人识别号：{tax_id}")
        y += size * 1.6
        text(x, y, f"地址、电话：{name[:2]}市{rng.choice(WORDS)}路{rng.randint(1, 300)}号 {rng.randint(20000000, 89999999)}")
        y += size * 1.6
        text(x, y, f"开户行及账号：中国银行{name[:2]}分行 {rng.randint(10**11, 10**12 - 1)}")
        y += size * 2.0

    party("购买方", f["buyer_name"], f["buyer_tax_id"])
    item, unit = rng.choice(ITEMS)
    cols = (m, m + 12 * size, m + 17 * size, m + 21 * size, m + 26 * size, m + 33 * size, m + 41 * size)
    for x, s in zip(cols, ("货物或应税劳务、服务名称", "单位", "数量", "单价", "金额", "税率", "税额")):
        text(x, y, s)
    y += size * 1.6
    for x, s in zip(cols, (item, unit, "1", f["amount"], f["amount"], f["rate"], f["tax"])):
        text(x, y, s)
    y += size * 2.2
    text(m, y, "合      计" if seed % 2 else "合计")
    text(cols[4], y, f"¥{f['amount']}")
    text(cols[6], y, f"¥{f['tax']}")
    y += size * 1.8
    text(m, y, "价税合计（大写）")
    text(m + 9 * size, y, f"⊗{f['total_in_words']}")
    text(cols[5] - size, y, f"（小写）¥{f['total']}")
    y += size * 2.2
    party("销售方", f["seller_name"], f["seller_tax_id"])

    img = np.asarray(page)
    img = img[: int(y) + m]
    if seed % 3 == 1:  # a scan: a slight tilt, blur and noise
        h, w = img.shape
        rot = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-0.8, 0.8), 1.0)
        img = cv2.warpAffine(img, rot, (w, h), borderValue=255)
        img = cv2.GaussianBlur(img, (3, 3), 0.6)
        noise = np.random.default_rng(seed).normal(0, 6, img.shape)
        img = np.clip(img + noise, 0, 255).astype(np.uint8)
    truth = {k: v for k, v in f.items() if k != "rate"}
    return Invoice(img, truth)


def invoices(n: int, first_seed: int = 0) -> list[Invoice]:
    return [invoice(seed) for seed in range(first_seed, first_seed + n)]
