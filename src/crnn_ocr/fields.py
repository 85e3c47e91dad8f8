"""The fields step: typed, validated fields read off a page's rows (``crnn_ocr.layout``).

A page whose rows carry Chinese VAT-invoice labels (发票代码, 发票号码, 价税合计, ...) is read as an
invoice, any other as a receipt. Values are found beside their labels: in the same line after the
label ("发票号码: 12345678"), in the next cell of the same row ("DATE:" | "25/12/2018"), or, for a
label standing alone, at the start of the next row.

Receipt fields (the ICDAR 2019 SROIE task 3 keys):
- company: the first of the top rows that names a business (SDN BHD, ENTERPRISE, TRADING, 有限公司,
  ...), else the first top row of capital letters that is not a heading such as "TAX INVOICE";
- address: the rows after it (registration numbers skipped) up to the first telephone, tax,
  invoice or date row, joined by spaces;
- date: the date on a row labelled DATE/日期, else one beside a time of day, else the first date
  on the page (a date printed with - or /, a four-digit year or a month name before one that
  could be a misread price such as 1.4.50);
- total: the amount of the best-labelled total row (GRAND/NET/ROUNDED TOTAL, TOTAL INCL., AMOUNT
  DUE, 合计 ... over a plain TOTAL; never SUBTOTAL, TOTAL QTY, TOTAL GST, TOTAL EXCL., TAX TOTAL;
  a GST summary table's Total row counts as a plain amount), the one equal to cash - change
  first; without a total row the largest amount that is no payment, change or tax; checked
  against subtotal + tax (+ rounding) and cash - change when those rows are there.

Second reads (``crnn_ocr.field_reader``, when the pipeline passes the page's recognizer): the
amount beside a total label is decoded again under the amount grammar (14-10 -> 14.10), and
where the detector found no value beside a TOTAL, CASH or CHANGE label the strip of the page
right of the label is read with it; on invoices, taxpayer ids are reread as unified social
credit codes, 大写 words as financial numerals, and a company name that starts with no Chinese
place as starting with one.

Invoice fields: invoice_code (10 or 12 digits), invoice_number (8 or 20), issue_date, check_code
(20 digits), buyer_name and buyer_tax_id (the first 名称/纳税人识别号 on the page, or those after
购买方), seller_name and seller_tax_id (the second, or after 销售方), amount and tax (the 合计 row),
total (价税合计, 小写) and total_in_words (价税合计, 大写); taxpayer ids checked by their check
character, amount + tax against total, the words against the figure.
"""

from __future__ import annotations

from collections.abc import Sequence

from crnn_ocr.field_reader import FieldReader
from crnn_ocr.field_rows import rows_of
from crnn_ocr.invoice import INVOICE_FIELDS, invoice_fields, is_invoice
from crnn_ocr.receipt import RECEIPT_FIELDS, receipt_fields
from crnn_ocr.types import Block, Field

__all__ = ["INVOICE_FIELDS", "RECEIPT_FIELDS", "find_fields", "invoice_fields", "receipt_fields"]


def find_fields(blocks: Sequence[Block], reader: FieldReader | None = None) -> tuple[Field, ...]:
    """The typed fields of a page laid out as ``blocks`` (see the module docstring). ``reader``:
    the page's recognizer, to read a value again under its field's grammar, or beside its label
    where no value was found (``crnn_ocr.field_reader``); None: the lines' text only."""
    rows = rows_of(blocks)
    return invoice_fields(rows, reader) if is_invoice(rows) else receipt_fields(rows, reader)
