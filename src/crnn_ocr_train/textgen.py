"""Text for synthetic lines: real words by frequency, mixed zh/en, and the strings documents are full of.

Every generator takes a ``numpy.random.Generator`` so a seed fixes the output. ``TextSampler``
mixes the generators; its ``rare_fraction`` controls how often uniformly random charset
characters are drawn, so every character is seen in training, not only the frequent ones.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from crnn_ocr.charset import CJK_PUNCTUATION, Charset

from .corpus import Corpus
from .running_text import RunningText, vary_punctuation, with_asides, with_latin_terms

Rng = np.random.Generator

ZH_PUNCT_INNER = "，、；："
ZH_PUNCT_END = "。！？"
EN_PUNCT = ",.;:!?"
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
KEYS_ZH = (
    "发票号码", "发票代码", "开票日期", "金额", "税额", "价税合计", "合计", "单价", "数量", "电话", "地址",
    "姓名", "日期", "时间", "编号", "账号", "开户行", "纳税人识别号", "备注", "收款人", "复核", "开票人",
    "销售方", "购买方", "名称", "规格型号", "单位", "税率", "订单号", "客户", "联系人", "手机", "邮箱",
    "网址", "身份证号", "总计", "找零", "实收", "应付", "折扣", "小计", "收银员", "门店", "会员卡号",
)
KEYS_EN = (
    "Invoice No", "Date", "Time", "Total", "Subtotal", "Tax", "Amount", "Qty", "Price", "Phone", "Tel",
    "Fax", "Email", "Address", "Name", "Order", "Account", "Cashier", "Change", "Cash", "VAT", "Ref",
    "Customer ID", "Due Date", "Balance", "Item", "Description", "Unit Price", "Receipt No",
)
TLDS = ("com", "cn", "net", "org", "com.cn", "io", "edu.cn", "gov.cn")


def _choice(rng: Rng, seq):
    return seq[int(rng.integers(len(seq)))]


def _digits(rng: Rng, n: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, n))


def _alnum(rng: Rng, n: int, upper_only: bool = True) -> str:
    alphabet = string.ascii_uppercase + string.digits if upper_only else string.ascii_letters + string.digits
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), n))


def _case(rng: Rng, word: str) -> str:
    r = rng.random()
    if r < 0.15:
        return word.upper()
    if r < 0.45:
        return word[:1].upper() + word[1:]
    return word


# ---- document strings ------------------------------------------------------------------------


def amount(rng: Rng) -> str:
    value = float(rng.choice([rng.uniform(0, 100), rng.uniform(0, 10_000), rng.uniform(0, 10_000_000)]))
    s = f"{value:,.2f}" if rng.random() < 0.6 else f"{value:.2f}"
    if rng.random() < 0.15:
        s = s.rstrip("0").rstrip(".") or "0"
    prefix = _choice(rng, ("¥", "￥", "$", "€", "£", "RMB ", "", "", "-¥", "USD "))
    suffix = _choice(rng, ("", "", "", "元", " 元", "万元", " CNY"))
    return prefix + s + suffix


def date(rng: Rng) -> str:
    y, m, d = int(rng.integers(1950, 2040)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    fmt = int(rng.integers(7))
    return [
        f"{y}-{m:02d}-{d:02d}", f"{y}/{m:02d}/{d:02d}", f"{y}年{m}月{d}日", f"{y}.{m:02d}.{d:02d}",
        f"{d:02d}/{m:02d}/{y}", f"{m}/{d}/{y}", f"{y}年{m:02d}月{d:02d}日",
    ][fmt]


def time_of_day(rng: Rng) -> str:
    h, mi, s = int(rng.integers(0, 24)), int(rng.integers(0, 60)), int(rng.integers(0, 60))
    return _choice(rng, (f"{h:02d}:{mi:02d}", f"{h:02d}:{mi:02d}:{s:02d}", f"{h}时{mi}分", f"{h % 12 or 12}:{mi:02d} {'AM' if h < 12 else 'PM'}"))


def phone(rng: Rng) -> str:
    k = int(rng.integers(5))
    if k == 0:
        return "1" + str(int(rng.integers(3, 10))) + _digits(rng, 9)
    if k == 1:
        return f"1{int(rng.integers(3, 10))}{_digits(rng, 1)}-{_digits(rng, 4)}-{_digits(rng, 4)}"
    if k == 2:
        return f"0{_digits(rng, 2)}-{_digits(rng, 8)}"
    if k == 3:
        return f"({_digits(rng, 3)}) {_digits(rng, 3)}-{_digits(rng, 4)}"
    return f"+86 {_digits(rng, 3)} {_digits(rng, 4)} {_digits(rng, 4)}"


def identifier(rng: Rng) -> str:
    k = int(rng.integers(7))
    if k == 0:  # resident ID
        return _digits(rng, 17) + _choice(rng, "0123456789X")
    if k == 1:  # unified social credit code / tax ID
        return "91" + _digits(rng, 4) + _alnum(rng, 12)
    if k == 2:  # invoice number / code
        return _digits(rng, int(rng.integers(8, 13)))
    if k == 3:
        return _choice(rng, ("NO.", "No.", "No ", "#", "INV-", "SO", "PO-")) + _digits(rng, int(rng.integers(4, 10)))
    if k == 4:  # licence plate
        return _choice(rng, PROVINCES) + _choice(rng, string.ascii_uppercase) + _alnum(rng, int(rng.integers(5, 7)))
    if k == 5:
        return _alnum(rng, int(rng.integers(4, 12)), upper_only=False)
    return f"{_alnum(rng, 3)}-{_digits(rng, 4)}-{_alnum(rng, 2)}"


def email(rng: Rng, corpus: Corpus) -> str:
    user = _choice(rng, corpus.en.words[:5000]) + _choice(rng, ("", ".", "_", "")) + (
        _digits(rng, int(rng.integers(0, 4))) if rng.random() < 0.5 else _choice(rng, corpus.en.words[:5000])
    )
    host = _choice(rng, ("qq", "163", "126", "gmail", "outlook", "sina", "example", "company", "aliyun", "foxmail"))
    return f"{user}@{host}.{_choice(rng, TLDS)}"


def url(rng: Rng, corpus: Corpus) -> str:
    host = _choice(rng, corpus.en.words[:8000])
    path = "/".join(_choice(rng, corpus.en.words[:8000]) for _ in range(int(rng.integers(0, 3))))
    scheme = _choice(rng, ("https://", "http://", "www.", "https://www.", ""))
    return f"{scheme}{host}.{_choice(rng, TLDS)}" + (f"/{path}" if path else "")


def percentage(rng: Rng) -> str:
    v = float(rng.uniform(0, 100))
    return _choice(rng, (f"{v:.1f}%", f"{int(v)}%", f"{v:.2f}％", f"{int(v)}％", f"-{v:.1f}%"))


# ---- word-based lines ------------------------------------------------------------------------


def zh_phrase(rng: Rng, corpus: Corpus, max_chars: int) -> str:
    out = ""
    while len(out) < max_chars:
        w = corpus.zh.draw(rng)
        if len(out) + len(w) > max_chars:
            break
        out += w
        r = rng.random()
        if r < 0.08 and len(out) < max_chars - 1:
            out += _choice(rng, ZH_PUNCT_INNER)
    if out and rng.random() < 0.15 and len(out) < max_chars:
        out += _choice(rng, ZH_PUNCT_END)
    return out


def en_phrase(rng: Rng, corpus: Corpus, max_chars: int) -> str:
    words: list[str] = []
    length = 0
    while True:
        w = _case(rng, corpus.en.draw(rng))
        if rng.random() < 0.06:
            w += _choice(rng, EN_PUNCT)
        if length + len(w) + (1 if words else 0) > max_chars:
            break
        words.append(w)
        length += len(w) + (1 if len(words) > 1 else 0)
    if not words:
        return corpus.en.words[int(rng.integers(100))][:max_chars]
    if rng.random() < 0.1:
        return "".join(w[:1].upper() + w[1:] for w in words)  # identifiers, brand names
    return " ".join(words)


def mixed_phrase(rng: Rng, corpus: Corpus, max_chars: int) -> str:
    """Chinese with embedded English words or numbers, spaced either way as documents do."""
    parts: list[str] = []
    length = 0
    spaced = rng.random() < 0.5
    while length < max_chars:
        r = rng.random()
        if r < 0.6:
            tok = corpus.zh.draw(rng)
        elif r < 0.85:
            tok = _case(rng, corpus.en.draw(rng))
        else:
            tok = _choice(rng, (_digits(rng, int(rng.integers(1, 5))), percentage(rng), amount(rng), date(rng)))
        if length + len(tok) > max_chars:
            break
        if parts and spaced and (tok[0].isascii() != parts[-1][-1].isascii()):
            parts.append(" ")
            length += 1
        parts.append(tok)
        length += len(tok)
    return "".join(parts).strip()


def field_line(rng: Rng, corpus: Corpus, max_chars: int) -> str:
    """'key：value' fields of forms and invoices."""
    zh = rng.random() < 0.65
    key = _choice(rng, KEYS_ZH if zh else KEYS_EN)
    sep = _choice(rng, ("：", ":", "： ", ": ")) if zh else _choice(rng, (": ", ":", " "))
    value_fn: Callable[[], str] = _choice(
        rng,
        (
            lambda: amount(rng), lambda: date(rng), lambda: phone(rng), lambda: identifier(rng),
            lambda: email(rng, corpus), lambda: percentage(rng), lambda: time_of_day(rng),
            lambda: zh_phrase(rng, corpus, max(2, max_chars - len(key) - 2)),
        ),
    )
    return (key + sep + value_fn())[:max_chars].rstrip()


# ---- Chinese proper names -------------------------------------------------------------------
# Names of companies, people and places are where documents use the rare hanzi that running text
# almost never shows (trade names, given names, county and street names), and a reader that learned
# a common-character prior from prose misreads them. They follow a few fixed shapes, generated here
# with the name part drawn across the charset (``_name_chars``).

CITIES = (
    "北京", "上海", "天津", "重庆", "广州", "深圳", "杭州", "南京", "武汉", "成都", "西安", "合肥", "苏州", "长沙",
    "郑州", "济南", "青岛", "厦门", "福州", "昆明", "贵阳", "南宁", "沈阳", "大连", "哈尔滨", "长春", "石家庄",
    "太原", "呼和浩特", "兰州", "银川", "西宁", "乌鲁木齐", "拉萨", "海口", "南昌", "宁波", "温州", "无锡", "佛山",
    "东莞", "珠海", "泉州", "烟台", "徐州", "常州", "绍兴", "嘉兴", "台州", "金华", "芜湖", "洛阳", "襄阳", "宜昌",
)
PROVINCE_NAMES = (
    "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南",
    "广东", "海南", "四川", "贵州", "云南", "陕西", "甘肃", "青海", "内蒙古", "广西", "西藏", "宁夏", "新疆",
)
INDUSTRIES = (
    "科技", "贸易", "商贸", "实业", "电子", "机械", "建筑", "工程", "物流", "餐饮", "食品", "医药", "化工", "信息技术",
    "网络科技", "文化传媒", "投资", "建材", "服装", "印刷", "装饰", "环保", "能源", "汽车服务", "农业", "教育咨询",
    "房地产开发", "物业管理", "酒店管理", "电器", "五金", "包装", "纺织", "广告", "软件", "生物科技", "供应链管理",
)
ORG_SUFFIXES = (
    "有限公司", "有限公司", "有限公司", "股份有限公司", "有限责任公司", "集团有限公司", "分公司", "厂", "商行", "经营部",
    "事务所", "研究所", "中心", "合作社", "门市部", "店", "工作室", "医院", "学校",
)
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪"
    "范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)


def _name_chars(rng: Rng, corpus: Corpus, hanzi: str, lo: int, hi: int) -> str:
    """lo..hi characters, each uniform over the charset's hanzi (60 %) or from a corpus word (40 %)."""
    out = []
    for _ in range(int(rng.integers(lo, hi + 1))):
        if rng.random() < 0.6:
            out.append(hanzi[int(rng.integers(len(hanzi)))])
        else:
            w = corpus.zh.draw(rng)
            out.append(w[int(rng.integers(len(w)))])
    return "".join(out)


def zh_org_name(rng: Rng, corpus: Corpus, hanzi: str) -> str:
    """'[place][trade name][industry][suffix]', e.g. 杭州X骐科技有限公司, the trade name drawn from the charset."""
    place = _choice(rng, (lambda: _choice(rng, CITIES) + ("市" if rng.random() < 0.3 else ""),
                          lambda: _choice(rng, PROVINCE_NAMES) + ("省" if rng.random() < 0.3 else ""),
                          lambda: _name_chars(rng, corpus, hanzi, 2, 2) + _choice(rng, ("县", "市", "区")), lambda: ""))()
    if rng.random() < 0.1:  # a branch: 杭州X骐有限公司南京分公司
        return place + _name_chars(rng, corpus, hanzi, 2, 3) + _choice(rng, ORG_SUFFIXES[:6]) + _choice(rng, CITIES) + "分公司"
    industry = _choice(rng, INDUSTRIES) if rng.random() < 0.8 else ""
    return place + _name_chars(rng, corpus, hanzi, 2, 4) + industry + _choice(rng, ORG_SUFFIXES)


def zh_person_name(rng: Rng, corpus: Corpus, hanzi: str) -> str:
    """A surname and one or two given-name characters drawn from the charset."""
    surname = SURNAMES[int(rng.integers(len(SURNAMES)))]
    if rng.random() < 0.03:
        surname += SURNAMES[int(rng.integers(len(SURNAMES)))]
    return surname + _name_chars(rng, corpus, hanzi, 1, 2)


def zh_address(rng: Rng, corpus: Corpus, hanzi: str) -> str:
    """'[province][city][district][street]路[n]号...' with rare district and street names."""
    parts = []
    if rng.random() < 0.5:
        parts.append(_choice(rng, PROVINCE_NAMES) + "省")
    parts.append(_choice(rng, CITIES) + "市")
    parts.append(_name_chars(rng, corpus, hanzi, 1, 2) + _choice(rng, ("区", "县")))
    parts.append(_name_chars(rng, corpus, hanzi, 1, 3) + _choice(rng, ("路", "街", "大道", "巷")) + f"{int(rng.integers(1, 999))}号")
    if rng.random() < 0.4:
        parts.append(f"{int(rng.integers(1, 30))}{_choice(rng, ('栋', '幢', '楼'))}{int(rng.integers(101, 2999))}{_choice(rng, ('室', '号', ''))}")
    return "".join(parts)


def zh_proper_name(rng: Rng, corpus: Corpus, hanzi: str, max_chars: int) -> str:
    """An organisation, person or address, bare or as a form field, sometimes with a tax id or
    phone number after it, as invoices, contracts and forms print them."""
    k = float(rng.random())
    if k < 0.5:
        value = zh_org_name(rng, corpus, hanzi)
        key = ("名称", "购买方名称", "销售方名称", "单位名称", "收款单位", "付款单位", "客户", "供应商", "甲方", "乙方", "开户行")
    elif k < 0.75:
        value = zh_person_name(rng, corpus, hanzi)
        key = ("姓名", "联系人", "收款人", "复核", "开票人", "经办人", "负责人", "收货人", "申请人", "签字")
    else:
        value = zh_address(rng, corpus, hanzi)
        key = ("地址", "住所", "收货地址", "通讯地址", "注册地址", "地址、电话")
    r = float(rng.random())
    if r < 0.45:
        text = _choice(rng, key) + _choice(rng, ("：", ":", "： ", ": ", " ")) + value
    elif r < 0.55:
        text = value + " " + _choice(rng, (lambda: identifier(rng), lambda: phone(rng), lambda: _alnum(rng, 18)))()
    elif r < 0.65 and k < 0.5:
        text = "（" + value + "）" if rng.random() < 0.5 else "(" + value + ")"
    else:
        text = value
    if len(text) > max_chars and rng.random() < 0.7:
        return value  # names are printed whole; a line too short for the key keeps the name
    return text[:max_chars].rstrip()


def document_string(rng: Rng, corpus: Corpus) -> str:
    fn = int(rng.integers(8))
    return [
        lambda: amount(rng), lambda: date(rng), lambda: time_of_day(rng), lambda: phone(rng),
        lambda: identifier(rng), lambda: email(rng, corpus), lambda: url(rng, corpus), lambda: percentage(rng),
    ][fn]()


def random_chars(rng: Rng, pool: str, max_chars: int) -> str:
    n = int(rng.integers(1, max_chars + 1))
    return "".join(pool[i] for i in rng.integers(0, len(pool), n))


# ---- the mixture -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TextMix:
    """Relative weights of each text kind."""

    zh: float = 0.30
    en: float = 0.17
    mixed: float = 0.12
    field: float = 0.10
    document: float = 0.08
    rare_hanzi: float = 0.15
    rare_symbols: float = 0.03
    plate: float = 0.05
    receipt: float = 0.0  # till receipts and typed forms (``receipt_line``); 0 in model v1
    zh_text: float = 0.0  # spans of real Chinese prose (``running_text``), punctuation widths varied, Latin terms
    en_text: float = 0.0  # spans of real English prose (``running_text``)
    zh_name: float = 0.0  # Chinese proper names: organisations, people, addresses (``zh_proper_name``)


class TextSampler:
    """Draws lines of the kinds in ``mix``; ``running`` (real prose) is needed when the mix
    asks for ``zh_text`` or ``en_text``."""

    def __init__(self, corpus: Corpus, charset: Charset, mix: TextMix = TextMix(), running: RunningText | None = None):
        if (mix.zh_text > 0 or mix.en_text > 0) and running is None:
            raise ValueError("the text mix asks for running text (zh_text/en_text) but none was given")
        self.corpus = corpus
        self.running = running
        self._latin_words = corpus.en.words[:20_000]
        self.charset = charset
        self.hanzi = "".join(c for c in charset.chars if ord(c) >= 0x4E00)
        self.symbols = string.ascii_letters + string.digits + string.punctuation + CJK_PUNCTUATION
        names = [f for f in TextMix.__dataclass_fields__]
        w = np.array([getattr(mix, n) for n in names], dtype=np.float64)
        self._kinds = names
        self._p = w / w.sum()

    def sample(self, rng: Rng, max_chars: int) -> str:
        """One line of text, at most ``max_chars`` characters, only charset characters, never empty."""
        for _ in range(10):
            kind = self._kinds[int(rng.choice(len(self._kinds), p=self._p))]
            text = self._one(kind, rng, max_chars)
            text = self.charset.filter_text(text).strip()
            if text:
                return text[:max_chars]
        return self.hanzi[int(rng.integers(len(self.hanzi)))]

    def _one(self, kind: str, rng: Rng, max_chars: int) -> str:
        n = int(rng.integers(1, max_chars + 1))
        if kind == "zh":
            return zh_phrase(rng, self.corpus, n)
        if kind == "en":
            return en_phrase(rng, self.corpus, max(n, 3))
        if kind == "mixed":
            return mixed_phrase(rng, self.corpus, n)
        if kind == "field":
            return field_line(rng, self.corpus, max(n, 6))
        if kind == "document":
            return document_string(rng, self.corpus)
        if kind == "rare_hanzi":
            return random_chars(rng, self.hanzi, n)
        if kind == "rare_symbols":
            return random_chars(rng, self.symbols, n)
        if kind == "receipt":
            return receipt_line(rng, self.corpus, max(n, 4))
        if kind == "zh_text":
            text = vary_punctuation(rng, self.running.zh_line(rng, n))
            if rng.random() < 0.2:
                text = with_asides(rng, text, max_chars)
            if rng.random() < 0.25:
                text = with_latin_terms(rng, text, self._latin_words, max_chars)
            return text
        if kind == "en_text":
            return self.running.en_line(rng, max(n, 3))
        if kind == "zh_name":
            return zh_proper_name(rng, self.corpus, self.hanzi, max(n, 4))
        if kind == "plate":
            return _choice(rng, PROVINCES) + _choice(rng, string.ascii_uppercase) + (
                "·" if rng.random() < 0.2 else ""
            ) + _alnum(rng, 5)
        raise ValueError(f"unknown text kind {kind!r}")


# ---- till receipts and typed forms ------------------------------------------------------------

RECEIPT_WORDS = (
    "TOTAL", "SUBTOTAL", "SUB TOTAL", "GRAND TOTAL", "NET TOTAL", "TOTAL SALES", "TOTAL QTY", "CASH", "CHANGE",
    "CHANGE DUE", "ROUNDING", "ROUNDING ADJ", "ROUNDING ADJUSTMENT", "TOTAL ROUNDED", "ROUNDED TOTAL", "QTY",
    "PRICE", "U/PRICE", "UNIT PRICE", "AMOUNT", "AMT", "DISC", "DISCOUNT", "TAX", "GST", "VAT", "SST",
    "SERVICE CHARGE", "INVOICE", "TAX INVOICE", "CASH BILL", "RECEIPT", "OFFICIAL RECEIPT", "CASHIER",
    "SALESPERSON", "SERVER", "TABLE", "DATE", "TIME", "ITEM", "ITEMS", "DESC", "DESCRIPTION", "CODE",
    "DOC NO", "BILL NO", "INV NO", "RECEIPT NO", "REF", "MEMBER", "MEMBER NO", "CARD", "VISA", "MASTERCARD",
    "DEBIT", "CREDIT", "BALANCE", "PAID", "TENDER", "PAYMENT", "TEL", "FAX", "REG NO", "COMPANY NO",
    "GST REG NO", "GST ID", "TAX ID", "COUNTER", "POS", "TERMINAL", "STORE", "BRANCH", "OUTLET", "PCS", "PC",
    "EA", "KG", "NOS", "UNIT", "UOM", "SUMMARY", "INCL", "EXCL", "INCLUSIVE", "EXCLUSIVE", "TAXABLE",
)
RECEIPT_FOOTERS = (
    "THANK YOU", "THANK YOU, PLEASE COME AGAIN", "PLEASE COME AGAIN", "GOODS SOLD ARE NOT RETURNABLE",
    "GOODS SOLD ARE NOT REFUNDABLE", "NO REFUND", "NO EXCHANGE", "KEEP THIS RECEIPT", "HAVE A NICE DAY",
    "THANK YOU FOR SHOPPING WITH US", "PRICES INCLUSIVE OF TAX", "THIS IS A COMPUTER GENERATED RECEIPT",
)
COMPANY_SUFFIXES = ("SDN BHD", "SDN. BHD.", "PTE LTD", "LTD", "LTD.", "INC", "INC.", "CO.", "LLC", "GMBH", "ENTERPRISE", "TRADING", "(M)")
ROAD_WORDS = ("JALAN", "JLN", "ROAD", "RD", "STREET", "ST", "AVENUE", "AVE", "LORONG", "TAMAN", "LOT", "NO", "BLOCK", "UNIT", "LEVEL", "FLOOR")


def _upper_words(rng: Rng, corpus: Corpus, k: int) -> str:
    """k corpus words, mostly upper case (receipts and forms print names in capitals)."""
    ws = [corpus.en.draw(rng) if rng.random() < 0.6 else corpus.en.words[int(rng.integers(min(30_000, len(corpus.en))))] for _ in range(k)]
    return " ".join(ws).upper() if rng.random() < 0.8 else " ".join(w[:1].upper() + w[1:] for w in ws)


def _money(rng: Rng) -> str:
    v = float(rng.choice([rng.uniform(0, 20), rng.uniform(0, 200), rng.uniform(0, 5000)]))
    s = f"{v:,.2f}" if v >= 1000 and rng.random() < 0.5 else f"{v:.2f}"
    return ("-" if rng.random() < 0.05 else "") + s


def receipt_line(rng: Rng, corpus: Corpus, max_chars: int) -> str:
    """A line of a till receipt or a typed form: labels in capitals with values, item rows (code,
    name, quantity, price), addresses, totals with dotted leaders, footers."""
    k = int(rng.integers(11))
    if k == 0:  # item name, maybe with a quantity and a price
        text = _upper_words(rng, corpus, int(rng.integers(1, 5)))
        if rng.random() < 0.5:
            text += " " + _choice(rng, ("", "1 X ", "2 X ", f"{int(rng.integers(1, 20))} ", f"{int(rng.integers(1, 9))}PC ")) + _money(rng)
    elif k == 1:  # label: value
        label = _choice(rng, RECEIPT_WORDS)
        value = _choice(rng, (
            lambda: _money(rng), lambda: date(rng), lambda: time_of_day(rng), lambda: identifier(rng),
            lambda: _digits(rng, int(rng.integers(3, 13))), lambda: _upper_words(rng, corpus, 1),
            lambda: f"{date(rng)} {time_of_day(rng)}", lambda: "RM" + _money(rng), lambda: "$" + _money(rng),
        ))()
        text = label + _choice(rng, (": ", " : ", ":", " ", " # ", "# ", ". ")) + value
    elif k == 2:  # total with leader dots or spaces
        label = _choice(rng, RECEIPT_WORDS)
        fill = _choice(rng, (".", " ", "-", "_")) * int(rng.integers(1, 14))
        text = label + fill + _choice(rng, ("", "RM", "$", "RM ")) + _money(rng)
    elif k == 3:  # address
        text = _choice(rng, (
            f"NO.{int(rng.integers(1, 300))}, ", f"{int(rng.integers(1, 300))}, ", f"LOT {int(rng.integers(1, 9999))}, ", "",
        )) + _choice(rng, ROAD_WORDS) + " " + _upper_words(rng, corpus, int(rng.integers(1, 3)))
        text += _choice(rng, ("", ",", f" {int(rng.integers(1, 40))},", f", {_digits(rng, 5)} {_upper_words(rng, corpus, 1)}"))
    elif k == 4:  # company name
        text = _upper_words(rng, corpus, int(rng.integers(1, 4))) + " " + _choice(rng, COMPANY_SUFFIXES)
        if rng.random() < 0.3:
            text += f" ({_digits(rng, int(rng.integers(5, 8)))}-{_choice(rng, string.ascii_uppercase)})"
    elif k == 5:  # footer
        text = _choice(rng, RECEIPT_FOOTERS)
        if rng.random() < 0.3:
            d = _choice(rng, ("*", "-", "=", "~", "."))
            text = d * int(rng.integers(1, 4)) + text + d * int(rng.integers(1, 4))
    elif k == 6:  # column header
        text = " ".join(_choice(rng, RECEIPT_WORDS) for _ in range(int(rng.integers(1, 5))))
    elif k == 7:  # product code / barcode number and item
        text = _digits(rng, int(rng.integers(6, 14))) + (" " + _upper_words(rng, corpus, int(rng.integers(1, 4))) if rng.random() < 0.6 else "")
    elif k == 8:  # numbers alone: prices, quantities, percentages
        text = _choice(rng, (lambda: _money(rng), lambda: str(int(rng.integers(1, 100))), lambda: percentage(rng), lambda: f"{int(rng.integers(1, 50))} x {_money(rng)}"))()
    elif k == 9:  # reference numbers with letters and digits
        text = _choice(rng, ("", "INV", "CS", "OR", "T", "TD", "SO", "PO", "#")) + _alnum(rng, int(rng.integers(4, 12)))
    else:  # a typed-form field in mixed case
        text = _choice(rng, KEYS_EN) + _choice(rng, (": ", ":", " ")) + _choice(rng, (lambda: en_phrase(rng, corpus, 20), lambda: _money(rng), lambda: date(rng), lambda: phone(rng)))()
    return text[:max_chars].rstrip()


def scene_word(rng: Rng, corpus: Corpus) -> str:
    """What shop fronts, street signs and posters say: one or two words, mostly capitalised,
    sometimes a number (house numbers, prices, phone numbers)."""
    r = rng.random()
    if r < 0.08:
        return _choice(rng, (_digits(rng, int(rng.integers(1, 5))), phone(rng), amount(rng), percentage(rng)))
    words = []
    for _ in range(1 if rng.random() < 0.85 else 2):
        # Half by frequency, half uniformly over the top 40k: brand and place names are not frequent words.
        w = corpus.en.draw(rng) if rng.random() < 0.5 else corpus.en.words[int(rng.integers(min(40_000, len(corpus.en))))]
        words.append(w)
    c = rng.random()
    text = " ".join(words)
    if c < 0.5:
        text = text.upper()
    elif c < 0.85:
        text = " ".join(w[:1].upper() + w[1:] for w in words)
    if rng.random() < 0.05:
        text += _choice(rng, ("!", "'S", "'s", ".", "&"))
    return text


PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O on Chinese plates


def plate_number(rng: Rng) -> str:
    """A Chinese licence-plate number as LPR datasets label it (no separator dot): province,
    city letter, then 5 characters (6 on green new-energy plates), mostly digits."""
    n = 6 if rng.random() < 0.1 else 5
    tail = "".join(
        str(int(rng.integers(10))) if rng.random() < 0.6 else _choice(rng, PLATE_LETTERS) for _ in range(n)
    )
    return _choice(rng, PROVINCES) + _choice(rng, PLATE_LETTERS) + tail
