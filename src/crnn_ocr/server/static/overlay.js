// Lines drawn over an image (the viewer's #overlay, the Live tab's #live-overlay): an SVG polygon
// per line, those read with low confidence marked (a line without a confidence, drawn by the
// user, is not).

const SVG_NS = "http://www.w3.org/2000/svg";

/** Lines read with less confidence are marked (and drawn dashed). */
export const LOW_CONFIDENCE = 0.6;

/** A confidence (0..1) as "97.5%". */
export function percent(confidence) {
  return `${(confidence * 100).toFixed(1)}%`;
}

/** The polygon over ``line.box`` (four [x, y] corners), ``title`` as its tooltip. */
export function linePolygon(line, title) {
  const poly = document.createElementNS(SVG_NS, "polygon");
  poly.setAttribute("points", line.box.map(([x, y]) => `${x},${y}`).join(" "));
  if (line.confidence !== null && line.confidence < LOW_CONFIDENCE) poly.classList.add("low");
  const tip = document.createElementNS(SVG_NS, "title");
  tip.textContent = title;
  poly.appendChild(tip);
  return poly;
}
