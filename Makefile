# The two set-up commands (README):   make demo   |   make test
# `make demo` installs only what reading an image and serving it needs: a virtualenv in .venv with
# the runtime and the `serve` extra (no torch, no browser, no Redis, no system package).
# `make test` installs everything the tests need on a fresh Debian machine: system packages (fonts,
# Tesseract, Chromium, redis-server, nginx, PostgreSQL) via scripts/install-system-deps.sh, then
# every extra into the same .venv.

VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test test-all serve bench bench-deps train install clean

$(DEMO_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[serve]'
	touch $@

$(STAMP): pyproject.toml scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[serve,jobs,postgresql,train,test,bench]'
	touch $@

install: $(STAMP)

## Main job: read the shipped sample invoice with the shipped model (no external service).
demo: $(DEMO_STAMP)
	$(VENV)/bin/crnn-ocr read samples/invoice_zh_en.png

## The whole default test suite (real model, real API, real images, headless browser).
test: $(STAMP)
	$(PY) -m pytest -q

## Everything, including the slow tests (full eval sets, longer training).
test-all: $(STAMP)
	$(PY) -m pytest -q -m ''

serve: $(DEMO_STAMP)
	$(VENV)/bin/crnn-ocr serve --host 127.0.0.1 --port 8000

bench-deps: $(STAMP)
	$(PY) -m pip install -q --no-deps rapidocr-onnxruntime==1.4.4 rapidocr==3.10.0

bench: bench-deps
	mkdir -p artifacts
	$(PY) benchmarks/compare.py --pages --speed --markdown BENCHMARKS.md --json artifacts/bench.json

## Recognizer training (issue 16): lines drawn by Chromium and PDFium cached once, then resume runs/v2/last.pt
## where this machine kept it, else start from the shipped weights.
train: $(STAMP)
	test -s data/cache/raster/chromium/labels.tsv || $(VENV)/bin/crnn-ocr-raster-lines data/cache/raster/chromium --engine chromium -n 16000 --config configs/v2.toml
	test -s data/cache/raster/pdfium/labels.tsv || $(VENV)/bin/crnn-ocr-raster-lines data/cache/raster/pdfium --engine pdfium -n 8000 --config configs/v2.toml
	if [ -f runs/v2/last.pt ]; then $(VENV)/bin/crnn-ocr-train --config configs/v2.toml --resume --max-minutes 150; \
	else $(VENV)/bin/crnn-ocr-train --config configs/v2.toml --init models/crnn_zh_en_v1.pt --max-minutes 150; fi

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
