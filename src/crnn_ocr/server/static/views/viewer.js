// The Read tab's viewer (#viewer): the image (or the server's copy of it, or a blank page) with the
// line boxes drawn over it; zoom (buttons, ctrl+wheel), pan (drag), and "Compare before / after
// preprocessing", which splits the image with the preprocessed one from POST /api/v1/preprocess
// (no detection, no recognition).

import { preprocess } from "../api.js";
import { $ } from "../dom.js";
import { onLanguageChange, t } from "../i18n.js";
import { ocrJson } from "../request.js";
import { hasSource, shownPage } from "../state.js";
import { showError } from "./error.js";
import { onTabShown } from "./tabs.js";

const view = {
  zoom: 0,          // 0: fit the panel; else the scale of the image
  shownScale: 0,    // the scale the image is shown at (0: none yet)
  compare: false,   // the before/after split is shown
  splitSeq: 0,      // only the latest preprocessed image is shown
};

/** Show ``src`` in the viewer (``kind``: "original" or "processed"); ``size`` ({width, height} of
 * the page) scales the overlay. */
export function showImage(src, kind, size) {
  const img = $("view-image");
  img.classList.remove("blank");
  if (img.getAttribute("src") !== src) img.src = src;
  img.alt = t(kind);
  $("view-kind").textContent = t(kind);
  $("viewer").hidden = false;
  $("empty-hint").hidden = true;
  if (size) $("overlay").setAttribute("viewBox", `0 0 ${size.width} ${size.height}`);
  fitImage();
}

/** No image (a history entry whose image this browser no longer has): a blank page of its size. */
export function showBlank(size) {
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.min(size.width, 4000));
  canvas.height = Math.max(1, Math.min(size.height, 4000));
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  showImage(canvas.toDataURL("image/png"), "original", size);
  $("view-image").classList.add("blank");
}

/** Nothing to show until the server sends the image (PDF, TIFF, URL). */
export function hideImage() {
  $("viewer").hidden = true;
  $("empty-hint").hidden = false;
}

// The scale that fits the image in the panel (small images up to 4x).
function fitScale() {
  const img = $("view-image");
  const w = img.naturalWidth;
  const h = img.naturalHeight;
  if (!w || !h) return 1;
  const room = Math.max(50, $("viewport").clientWidth - 4);
  return Math.min(room / w, (window.innerHeight * 0.7) / h, 4);
}

function fitImage() {
  applyZoom(view.zoom || fitScale());
}

function applyZoom(scale) {
  const img = $("view-image");
  if (!img.naturalWidth) return;
  img.style.width = `${Math.max(1, Math.floor(img.naturalWidth * scale))}px`;
  view.shownScale = scale;
  showZoom();
}

function showZoom() {
  $("zoom-label").textContent = t("zoom_label", { percent: Math.round((view.shownScale || 1) * 100) });
}

function zoomBy(factor) {
  const scale = Math.min(16, Math.max(0.05, (view.shownScale || fitScale()) * factor));
  view.zoom = scale;
  applyZoom(scale);
}

/** The before/after split is shown: a change of a preprocessing step updates it (updateSplit). */
export function comparing() {
  return view.compare;
}

/** The before/after split: the preprocessed page over the right part of the image. */
export async function updateSplit() {
  if (!view.compare || !hasSource()) return;
  const seq = ++view.splitSeq;
  try {
    const { image, steps } = await preprocess(await ocrJson(), shownPage());
    if (seq !== view.splitSeq) return;
    const img = $("split-image");
    const old = img.src;
    img.src = URL.createObjectURL(image);
    img.dataset.steps = steps;
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
  } catch (e) {
    if (seq === view.splitSeq) showError(e.code || "unknown", e.message);
  }
}

function setupPanning(viewport) {
  let drag = null;  // drag the image to pan it
  viewport.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    drag = { x: e.clientX, y: e.clientY, left: viewport.scrollLeft, top: viewport.scrollTop };
    viewport.classList.add("panning");
  });
  window.addEventListener("pointermove", (e) => {
    if (!drag) return;
    viewport.scrollLeft = drag.left - (e.clientX - drag.x);
    viewport.scrollTop = drag.top - (e.clientY - drag.y);
  });
  window.addEventListener("pointerup", () => { drag = null; viewport.classList.remove("panning"); });
}

export function setupViewer() {
  $("zoom-in").addEventListener("click", () => zoomBy(1.25));
  $("zoom-out").addEventListener("click", () => zoomBy(0.8));
  $("zoom-fit").addEventListener("click", () => { view.zoom = 0; fitImage(); });
  const viewport = $("viewport");
  viewport.addEventListener("wheel", (e) => {
    if (!e.ctrlKey) return;  // plain wheel scrolls the page; ctrl+wheel (and pinch) zooms
    e.preventDefault();
    zoomBy(e.deltaY < 0 ? 1.1 : 1 / 1.1);
  }, { passive: false });
  setupPanning(viewport);
  $("compare").addEventListener("change", (e) => {
    view.compare = e.target.checked;
    $("compare-hint").hidden = !view.compare;
    $("split").hidden = $("split-slider").hidden = !view.compare;
    if (view.compare) updateSplit();
    else $("options-note").hidden = true;
  });
  $("split-slider").addEventListener("input", (e) => {
    $("split").style.clipPath = `inset(0 0 0 ${e.target.value}%)`;
  });
  const img = $("view-image");
  img.addEventListener("load", fitImage);
  img.addEventListener("error", hideImage);  // a file the browser cannot display
  window.addEventListener("resize", fitImage);
  onTabShown("read", fitImage);
  onLanguageChange(showZoom);
  showZoom();
}
