// Drawing a box on the viewer where the line finder missed a line, then typing its text (in the
// list of lines: views/edit.js, which saves it). "Draw a missed line" (#draw-box) starts drawing:
// drag over the line with the mouse (or a finger); or with the keyboard, a box appears in the
// middle of the page: the arrow keys move it, Shift+arrows make it wider / narrower, taller /
// shorter, Enter takes it. Escape (or the button again) stops drawing.

import { $ } from "../dom.js";
import { pagesOf, state } from "../state.js";
import { editNewLine } from "./edit.js";

const SVG_NS = "http://www.w3.org/2000/svg";
/** The smallest box taken, in page pixels. */
const MIN_SIDE = 4;

const drawing = {
  on: false,
  box: null,    // [x0, y0, x1, y1] in page pixels
  drag: null,   // the page point a drag started at
  asking: false,  // the box is taken: its text is being typed
  poly: null,   // the box over the image
};

function pageSize() {
  const page = pagesOf(state.result)[state.pageIndex];
  return { width: page.width, height: page.height };
}

// The page point under a pointer event, inside the page.
function pagePoint(e) {
  const { width, height } = pageSize();
  const rect = $("overlay").getBoundingClientRect();
  const x = ((e.clientX - rect.left) / rect.width) * width;
  const y = ((e.clientY - rect.top) / rect.height) * height;
  return [Math.min(Math.max(x, 0), width), Math.min(Math.max(y, 0), height)];
}

function drawBox() {
  if (!drawing.poly) {
    drawing.poly = document.createElementNS(SVG_NS, "polygon");
    drawing.poly.classList.add("draft");
  }
  if (!drawing.poly.isConnected) $("overlay").appendChild(drawing.poly);  // the lines were drawn again
  const [x0, y0, x1, y1] = drawing.box;
  drawing.poly.setAttribute("points", `${x0},${y0} ${x1},${y0} ${x1},${y1} ${x0},${y1}`);
}

function start() {
  if (!state.result || drawing.on) return;
  const { width, height } = pageSize();
  const w = Math.max(MIN_SIDE, Math.round(width * 0.4));
  const h = Math.max(MIN_SIDE, Math.min(Math.round(height * 0.2), Math.round(Math.max(height / 20, 16))));
  const x = Math.round((width - w) / 2);
  const y = Math.round((height - h) / 2);
  Object.assign(drawing, { on: true, box: [x, y, x + w, y + h], drag: null, asking: false });
  drawBox();
  $("draw-box").setAttribute("aria-pressed", "true");
  $("viewport").classList.add("drawing");
  $("overlay").classList.add("drawing");
  $("draw-hint").hidden = false;
  $("viewport").focus({ preventScroll: true });
}

function stop() {
  if (!drawing.on) return;
  const hadFocus = $("viewport").contains(document.activeElement);
  Object.assign(drawing, { on: false, box: null, drag: null, asking: false });
  if (drawing.poly) drawing.poly.remove();
  $("draw-box").setAttribute("aria-pressed", "false");
  $("viewport").classList.remove("drawing");
  $("overlay").classList.remove("drawing");
  $("draw-hint").hidden = true;
  if (hadFocus) $("draw-box").focus();
}

// The box is taken: its text is typed in the list of lines; drawing stops once it is saved or cancelled.
async function take() {
  const [x0, y0, x1, y1] = drawing.box.map((v) => Math.round(v));
  if (x1 - x0 < MIN_SIDE || y1 - y0 < MIN_SIDE) return;
  drawing.asking = true;
  await editNewLine([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]);
  stop();
}

// Arrow keys move the box by a hundredth of the page (at least a pixel); with Shift they move its
// right or bottom edge.
function onKey(e) {
  if (!drawing.on || drawing.asking) return;
  if (!state.result) { stop(); return; }  // the result was cleared
  const { width, height } = pageSize();
  const dx = Math.max(1, Math.round(width / 100));
  const dy = Math.max(1, Math.round(height / 100));
  const moves = { ArrowLeft: [-dx, 0], ArrowRight: [dx, 0], ArrowUp: [0, -dy], ArrowDown: [0, dy] };
  if (e.key === "Escape") {
    e.preventDefault();
    stop();
  } else if (e.key === "Enter") {
    e.preventDefault();
    take();
  } else if (moves[e.key]) {
    e.preventDefault();
    const [mx, my] = moves[e.key];
    let [x0, y0, x1, y1] = drawing.box;
    if (e.shiftKey) {
      x1 = Math.min(width, Math.max(x0 + MIN_SIDE, x1 + mx));
      y1 = Math.min(height, Math.max(y0 + MIN_SIDE, y1 + my));
    } else {
      const sx = Math.min(width - x1, Math.max(-x0, mx));
      const sy = Math.min(height - y1, Math.max(-y0, my));
      [x0, y0, x1, y1] = [x0 + sx, y0 + sy, x1 + sx, y1 + sy];
    }
    drawing.box = [x0, y0, x1, y1];
    drawBox();
  }
}

function setupDragging(stage) {
  stage.addEventListener("pointerdown", (e) => {
    if (!drawing.on || drawing.asking || e.button !== 0) return;
    if (!state.result) { stop(); return; }
    e.stopPropagation();  // no panning while drawing
    e.preventDefault();
    stage.setPointerCapture(e.pointerId);
    drawing.drag = pagePoint(e);
    drawing.box = [...drawing.drag, ...drawing.drag];
    drawBox();
  });
  stage.addEventListener("pointermove", (e) => {
    if (!drawing.drag) return;
    const [x, y] = pagePoint(e);
    const [sx, sy] = drawing.drag;
    drawing.box = [Math.min(sx, x), Math.min(sy, y), Math.max(sx, x), Math.max(sy, y)];
    drawBox();
  });
  stage.addEventListener("pointerup", () => {
    if (!drawing.drag) return;
    drawing.drag = null;
    take();
  });
}

export function setupDraw() {
  $("draw-box").addEventListener("click", () => (drawing.on ? stop() : start()));
  $("viewport").addEventListener("keydown", onKey);
  setupDragging($("stage"));
}
