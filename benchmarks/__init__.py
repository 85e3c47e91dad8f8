"""Benchmarks: CRNN-OCR measured against its peers and under load; each script writes its own
section of BENCHMARKS.md (or benchmarks/LOAD.md). Run a script from the repository root as
``python -m benchmarks.compare ...`` or ``python benchmarks/compare.py ...`` (both work).

Accuracy and speed against the peers:
    compare          every engine on the same eval-set images: CER, 1-NED, line accuracy, latency,
                     page metrics, and with --speed throughput at batch 1/8/32 and peak memory
    peers            the engines, one class each: ours (crnn), Tesseract 5, PP-OCRv4 (rapidocr-
                     onnxruntime 1.4.4), PP-OCRv6 (rapidocr 3.10); a peer is added here alone
    evalsets         the labelled line/word and page sets, loaded from ../shared/eval and eval/
    speed            runs one engine's speed measurement in a fresh process
    timing           what every speed measurement shares: batch sizes, clocks, peak memory, result
    errors           where an engine loses: error breakdown from compare.py's --json
    detect_eval      text detection on real pages (ours beside RapidOCR and Tesseract)

Our own stages:
    decoding         greedy vs beam vs beam + character LM on every eval set
    detect_synth     classical vs learned detector per kind of synthetic page
    fields_eval      receipt and invoice fields, reading order (synthetic invoices: synth_invoices)

The service and the commands under load:
    load_test        requests/s, latency and memory of the HTTP service
    stream           live-stream frames/s and latency over the WebSocket
    jobs_throughput  batch jobs: Celery workers on Redis and the embedded mode
    deploy_throughput  requests/s through nginx with 1 and 2 servers (deploy/)
    pdf_throughput   ``crnn-ocr read`` on a 20-page scanned PDF

Shared: report (machine, load, the BENCHMARKS.md section between markers), loopback (a free port).
"""
