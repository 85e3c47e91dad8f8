"use strict";
// Live OCR on the web page: the camera (getUserMedia) or a shared screen / window
// (getDisplayMedia) streamed to WS /api/v1/stream, in the Live tab; its strings are in i18n.js.
// Loaded after app.js (uses its $, t, I18N, applyLanguage, apiKey, askForKey, SVG_NS,
// LOW_CONFIDENCE). The page sends a JPEG of the video
// up to four times a second, each once the previous one is answered (a fresh frame is read, none waits),
// draws the boxes of each answer over the video and keeps a transcript of every line reported,
// each with its best reading so far. The options are those of the Read tab's form.

const LIVE_INTERVAL_MS = 250;  // a frame every 250 ms at most
const LIVE_MAX_UNANSWERED = 1;  // a frame sent while one is read would wait, and be stale when read

const live = {
  media: null,      // the MediaStream
  ws: null,
  timer: null,
  paused: false,
  nextId: 0,
  unanswered: 0,
  lines: new Map(), // transcript: line id -> {text, confidence}, in order of appearance
  status: null,     // [i18n key, params] of the status line
  keyRetried: false,
};

function liveStatus(key, params = {}) {
  live.status = [key, params];
  $("live-status").textContent = key ? t(key, params) : "";
}

function liveError(key, params = {}) {
  const el = $("live-error");
  el.textContent = key ? t(key, params) : "";
  el.hidden = !key;
}

// The options of the form above, as the JSON ``options`` of the start message.
function liveOptions() {
  const form = $("options").elements;
  const preprocess = {};
  for (const name of ["grayscale", "clahe", "denoise", "binarize", "morph_close", "deskew"]) preprocess[name] = form[name].checked;
  const decode = {
    method: form.decode.value, page_script: form.page_script.checked, lm: form.lm.checked,
    min_confidence: Number(form.min_confidence.value || 0),
  };
  if (form.decode.value === "beam") decode.beam_width = Number(form.beam_width.value || 8);
  if (form.allowlist.value) decode.allowlist = form.allowlist.value;
  if (form.denylist.value) decode.denylist = form.denylist.value;
  if (form.pattern.value.trim()) decode.pattern = form.pattern.value.trim();
  return {
    detect: form.detect.checked, detector: form.detector.value, auto_orient: form.auto_orient.checked,
    preprocess, decode,
  };
}

async function liveStart(kind) {
  liveError("");
  const devices = navigator.mediaDevices;
  const capture = devices && (kind === "screen" ? devices.getDisplayMedia : devices.getUserMedia);
  if (!capture) { liveError("live_no_media"); return; }
  liveStop();
  try {
    live.media = kind === "screen"
      ? await devices.getDisplayMedia({ video: true, audio: false })
      : await devices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false });
  } catch (e) {
    liveError("live_media_failed", { detail: e.message || e.name || String(e) });
    return;
  }
  live.media.getVideoTracks().forEach((track) => track.addEventListener("ended", liveStop));
  const video = $("live-video");
  video.srcObject = live.media;
  delete video.parentElement.dataset.idle;
  await video.play().catch(() => {});
  live.lines.clear();
  $("live-transcript").replaceChildren();
  $("live-overlay").replaceChildren();
  liveConnect();
}

function liveConnect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/api/v1/stream`);
  ws.binaryType = "arraybuffer";
  live.ws = ws;
  live.unanswered = 0;
  liveStatus("live_connecting");
  ws.addEventListener("open", () => {
    const start = { type: "start", options: liveOptions() };
    if (apiKey()) start.api_key = apiKey();
    ws.send(JSON.stringify(start));
  });
  ws.addEventListener("message", (event) => liveMessage(ws, JSON.parse(event.data)));
  ws.addEventListener("close", () => {
    if (live.ws !== ws) return;
    live.ws = null;
    clearInterval(live.timer);
    live.timer = null;
    liveButtons();
  });
  applyLanguage();  // app.js: the strings above
  liveButtons();
}

function liveMessage(ws, message) {
  if (live.ws !== ws) return;
  if (message.type === "ready") {
    live.keyRetried = false;
    live.timer = setInterval(liveSendFrame, LIVE_INTERVAL_MS);
    liveButtons();
  } else if (message.type === "result") {
    live.unanswered = Math.max(0, live.unanswered - 1 - message.dropped.length);
    liveShow(message);
  } else if (message.type === "end") {
    liveStatus("live_stopped", { lines: live.lines.size });
  } else if (message.type === "error") {
    live.ws = null;
    clearInterval(live.timer);
    live.timer = null;
    if (message.code === "unauthorized" && !live.keyRetried) {
      live.keyRetried = true;
      askForKey(apiKey() ? "key_invalid" : "key_needed").then((ok) => { if (ok && live.media) liveConnect(); });
    } else {
      liveError("live_failed", { detail: message.message });
    }
    liveButtons();
  }
}

// The video's current picture as JPEG, behind the 12-byte header (uint32 id, float64 ms).
function liveSendFrame() {
  const ws = live.ws;
  const video = $("live-video");
  if (!ws || ws.readyState !== WebSocket.OPEN || live.paused || live.unanswered >= LIVE_MAX_UNANSWERED) return;
  if (!video.videoWidth || !video.videoHeight) return;
  const canvas = live.canvas || (live.canvas = document.createElement("canvas"));
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  const id = live.nextId++;
  const stamp = performance.now();
  live.unanswered += 1;
  canvas.toBlob(async (blob) => {
    if (!blob || live.ws !== ws || ws.readyState !== WebSocket.OPEN) return;
    const image = new Uint8Array(await blob.arrayBuffer());
    const message = new Uint8Array(12 + image.length);
    const header = new DataView(message.buffer);
    header.setUint32(0, id);
    header.setFloat64(4, stamp);
    message.set(image, 12);
    ws.send(message);
  }, "image/jpeg", 0.9);
}

function liveShow(result) {
  const svg = $("live-overlay");
  svg.setAttribute("viewBox", `0 0 ${result.width} ${result.height}`);
  svg.replaceChildren();
  for (const line of result.lines) {
    const poly = document.createElementNS(SVG_NS, "polygon");
    poly.setAttribute("points", line.box.map(([x, y]) => `${x},${y}`).join(" "));
    poly.dataset.id = String(line.id);
    if (line.confidence < LOW_CONFIDENCE) poly.classList.add("low");
    const title = document.createElementNS(SVG_NS, "title");
    title.textContent = line.text;
    poly.appendChild(title);
    svg.appendChild(poly);
  }
  const list = $("live-transcript");
  list.querySelectorAll("li.fresh").forEach((li) => li.classList.remove("fresh"));
  for (const line of result.lines) {
    const known = live.lines.get(line.id);
    let li = list.querySelector(`li[data-id="${line.id}"]`);
    if (!li) {
      li = document.createElement("li");
      li.dataset.id = String(line.id);
      const text = document.createElement("span");
      text.className = "text";
      const conf = document.createElement("span");
      conf.className = "conf";
      li.append(text, conf);
      list.appendChild(li);
      li.classList.add("fresh");
      li.scrollIntoView({ block: "nearest" });
    }
    if (!known || known.text !== line.text) {
      li.querySelector(".text").textContent = line.text;
      li.querySelector(".conf").textContent = `${(line.confidence * 100).toFixed(1)}%`;
      li.classList.toggle("low", line.confidence < LOW_CONFIDENCE);
    }
    live.lines.set(line.id, { text: line.text, confidence: line.confidence });
  }
  const s = result.stats;
  liveStatus(live.paused ? "live_paused" : "live_running", {
    fps: s.fps.toFixed(1), latency: Math.round(s.mean_latency_ms), processed: s.processed,
    skipped: s.skipped, dropped: s.dropped,
  });
  liveButtons();
}

function liveTranscript() {
  return [...live.lines.values()].map((line) => line.text).join("\n");
}

function livePause() {
  live.paused = !live.paused;
  const video = $("live-video");
  if (live.paused) { video.pause(); liveStatus("live_paused"); } else { video.play().catch(() => {}); }
  liveButtons();
}

function liveStop() {
  const ws = live.ws;
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "stop" }));
  clearInterval(live.timer);
  live.timer = null;
  if (live.media) live.media.getTracks().forEach((track) => track.stop());
  live.media = null;
  live.paused = false;
  const video = $("live-video");
  video.srcObject = null;
  video.parentElement.dataset.idle = "";
  liveButtons();
}

function liveButtons() {
  const on = Boolean(live.media);
  $("live-pause").disabled = !on;
  $("live-stop").disabled = !on;
  $("live-pause").textContent = t(live.paused ? "live_resume" : "live_pause");
  $("live-copy").disabled = live.lines.size === 0;
  $("live-download").disabled = live.lines.size === 0;
}

async function liveCopy() {
  const text = liveTranscript();
  let ok = false;
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); ok = true; } catch (_) { ok = false; }
  }
  $("live-copy-status").textContent = t(ok ? "copied" : "copy_failed");
}

function setupLive() {
  $("live-video").parentElement.dataset.idle = "";
  $("live-camera").addEventListener("click", () => liveStart("camera"));
  $("live-screen").addEventListener("click", () => liveStart("screen"));
  $("live-pause").addEventListener("click", livePause);
  $("live-stop").addEventListener("click", liveStop);
  $("live-copy").addEventListener("click", liveCopy);
  $("live-download").addEventListener("click", () => {
    const stamp = new Date().toISOString().slice(0, 19).replace(/[T:]/g, "-");
    const url = URL.createObjectURL(new Blob([liveTranscript() + "\n"], { type: "text/plain;charset=utf-8" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = `live-${stamp}.txt`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
  $("lang-toggle").addEventListener("click", () => {
    if (live.status) liveStatus(...live.status);
    liveButtons();
  });
  applyLanguage();  // app.js: the strings above
  liveButtons();
}

setupLive();
