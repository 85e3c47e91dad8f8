#!/usr/bin/env bash
# System packages the project needs, from Debian: training/test fonts (the held-out CJK fonts
# too; fonts-wqy-microhei is also the text font of searchable PDFs), Tesseract 5 with eng + chi_sim
# for the comparison benchmark, Chromium for the browser test, poppler-utils (pdftotext, pdfimages)
# to check searchable PDFs in the tests and benchmarks/pdf_throughput.py, wallpaper photographs as
# scene-text backgrounds for training (crnn_ocr_train.render.scene_photos), redis-server for the
# Redis-mode job tests and benchmarks/jobs_throughput.py (each starts its own on loopback),
# postgresql for the store tests (tests/pg_support.py starts a throwaway server on loopback with
# its initdb and pg_ctl) and nginx for the deployment test and benchmarks/deploy_throughput.py
# (deploy/: started on loopback from the repo's config; the packages' own services are not used).
# `make demo` needs none of these.
# Idempotent: does nothing when everything is already installed.
set -euo pipefail
PKGS=(
  fonts-noto-cjk fonts-noto-cjk-extra fonts-wqy-zenhei fonts-wqy-microhei fonts-arphic-ukai
  fonts-arphic-uming fonts-droid-fallback fonts-dejavu fonts-liberation2 fonts-freefont-ttf
  fonts-urw-base35 fonts-texgyre fonts-dkg-handwriting fonts-humor-sans
  fonts-arphic-gbsn00lp fonts-arphic-gkai00mp fonts-lxgw-wenkai
  tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim
  chromium
  poppler-utils
  gnome-backgrounds mate-backgrounds ukui-wallpapers
  redis-server
  postgresql
  nginx
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
