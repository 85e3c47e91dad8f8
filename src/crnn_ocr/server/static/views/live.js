// The Live tab: the camera (getUserMedia) or a shared screen / window (getDisplayMedia) streamed to
// WS /api/v1/stream with the options of the Read tab's form. The page sends a JPEG of the video up
// to four times a second, each once the previous one is answered (a fresh frame is read, none
// waits), draws the boxes of each answer over the video and keeps a transcript of every line
// reported, each with its best reading so far.

import { openStream } from "../api.js";
import { apiKey, askAgain } from "../apikey.js";
import { $, copyText, el, saveFile } from "../dom.js";
import { onLanguageChange, t } from "../i18n.js";
import { streamOptions } from "../options.js";
import { linePolygon, LOW_CONFIDENCE, percent } from "../overlay.js";

const INTERVAL_MS = 250;     // a frame every 250 ms at most
const MAX_UNANSWERED = 1;    // a frame sent while one is read would wait, and be stale when read

const live = {
  media: null,       // the MediaStream
  ws: null,
  timer: null,
  paused: false,
  nextId: 0,
  unanswered: 0,
  lines: new Map(),  // transcript: line id -> {text, confidence}, in order of appearance
  status: null,      // [i18n key, params] of the status line
  keyRetried: false,
  canvas: null,
};

function showStatus(key, params = {}) {
  live.status = [key, params];
  $("live-status").textContent = key ? t(key, params) : "";
}

function showLiveError(key, params = {}) {
  const box = $("live-error");
  box.textContent = key ? t(key, params) : "";
  box.hidden = !key;
}

async function start(kind) {
  showLiveError("");
  const devices = navigator.mediaDevices;
  const capture = devices && (kind === "screen" ? devices.getDisplayMedia : devices.getUserMedia);
  if (!capture) { showLiveError("live_no_media"); return; }
  stop();
  try {
    live.media = kind === "screen"
      ? await devices.getDisplayMedia({ video: true, audio: false })
      : await devices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false });
  } catch (e) {
    showLiveError("live_media_failed", { detail: e.message || e.name || String(e) });
    return;
  }
  live.media.getVideoTracks().forEach((track) => track.addEventListener("ended", stop));
  const video = $("live-video");
  video.srcObject = live.media;
  delete video.parentElement.dataset.idle;
  await video.play().catch(() => {});
  live.lines.clear();
  $("live-transcript").replaceChildren();
  $("live-overlay").replaceChildren();
  connect();
}

function connect() {
  const ws = openStream();
  live.ws = ws;
  live.unanswered = 0;
  showStatus("live_connecting");
  ws.addEventListener("open", () => {
    const message = { type: "start", options: streamOptions() };
    if (apiKey()) message.api_key = apiKey();
    ws.send(JSON.stringify(message));
  });
  ws.addEventListener("message", (event) => receive(ws, JSON.parse(event.data)));
  ws.addEventListener("close", () => {
    if (live.ws !== ws) return;
    live.ws = null;
    clearInterval(live.timer);
    live.timer = null;
    showButtons();
  });
  showButtons();
}

function receive(ws, message) {
  if (live.ws !== ws) return;
  if (message.type === "ready") {
    live.keyRetried = false;
    live.timer = setInterval(sendFrame, INTERVAL_MS);
    showButtons();
  } else if (message.type === "result") {
    live.unanswered = Math.max(0, live.unanswered - 1 - message.dropped.length);
    showFrame(message);
  } else if (message.type === "end") {
    showStatus("live_stopped", { lines: live.lines.size });
  } else if (message.type === "error") {
    live.ws = null;
    clearInterval(live.timer);
    live.timer = null;
    if (message.code === "unauthorized" && !live.keyRetried) {
      live.keyRetried = true;
      askAgain(apiKey()).then((ok) => { if (ok && live.media) connect(); });
    } else {
      showLiveError("live_failed", { detail: message.message });
    }
    showButtons();
  }
}

// The video's current picture as JPEG, behind the 12-byte header (uint32 id, float64 ms).
function sendFrame() {
  const ws = live.ws;
  const video = $("live-video");
  if (!ws || ws.readyState !== WebSocket.OPEN || live.paused || live.unanswered >= MAX_UNANSWERED) return;
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

// An answer: its boxes over the video, its lines into the transcript (a line's reading updated
// when it changes), the stream's figures in the status line.
function showFrame(result) {
  const svg = $("live-overlay");
  svg.setAttribute("viewBox", `0 0 ${result.width} ${result.height}`);
  svg.replaceChildren(...result.lines.map((line) => {
    const poly = linePolygon(line, line.text);
    poly.dataset.id = String(line.id);
    return poly;
  }));
  const list = $("live-transcript");
  list.querySelectorAll("li.fresh").forEach((li) => li.classList.remove("fresh"));
  for (const line of result.lines) {
    const known = live.lines.get(line.id);
    let li = list.querySelector(`li[data-id="${line.id}"]`);
    if (!li) {
      li = el("li", "fresh");
      li.dataset.id = String(line.id);
      li.append(el("span", "text"), el("span", "conf"));
      list.appendChild(li);
      li.scrollIntoView({ block: "nearest" });
    }
    if (!known || known.text !== line.text) {
      li.querySelector(".text").textContent = line.text;
      li.querySelector(".conf").textContent = percent(line.confidence);
      li.classList.toggle("low", line.confidence < LOW_CONFIDENCE);
    }
    live.lines.set(line.id, { text: line.text, confidence: line.confidence });
  }
  const s = result.stats;
  showStatus(live.paused ? "live_paused" : "live_running", {
    fps: s.fps.toFixed(1), latency: Math.round(s.mean_latency_ms), processed: s.processed,
    skipped: s.skipped, dropped: s.dropped,
  });
  showButtons();
}

function transcript() {
  return [...live.lines.values()].map((line) => line.text).join("\n");
}

function pause() {
  live.paused = !live.paused;
  const video = $("live-video");
  if (live.paused) { video.pause(); showStatus("live_paused"); } else { video.play().catch(() => {}); }
  showButtons();
}

function stop() {
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
  showButtons();
}

function showButtons() {
  const on = Boolean(live.media);
  $("live-pause").disabled = !on;
  $("live-stop").disabled = !on;
  $("live-pause").textContent = t(live.paused ? "live_resume" : "live_pause");
  $("live-copy").disabled = live.lines.size === 0;
  $("live-download").disabled = live.lines.size === 0;
}

async function copyTranscript() {
  const ok = await copyText(transcript());
  $("live-copy-status").textContent = t(ok ? "copied" : "copy_failed");
}

function downloadTranscript() {
  const stamp = new Date().toISOString().slice(0, 19).replace(/[T:]/g, "-");
  saveFile(new Blob([transcript() + "\n"], { type: "text/plain;charset=utf-8" }), `live-${stamp}.txt`);
}

export function setupLive() {
  $("live-video").parentElement.dataset.idle = "";
  $("live-camera").addEventListener("click", () => start("camera"));
  $("live-screen").addEventListener("click", () => start("screen"));
  $("live-pause").addEventListener("click", pause);
  $("live-stop").addEventListener("click", stop);
  $("live-copy").addEventListener("click", copyTranscript);
  $("live-download").addEventListener("click", downloadTranscript);
  onLanguageChange(() => {
    if (live.status) showStatus(...live.status);
    showButtons();
  });
  showButtons();
}
