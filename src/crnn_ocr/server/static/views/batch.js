// The Batch tab: many files → one POST /api/v1/jobs (multipart, with the options of the Read tab)
// → its progress events (GET /api/v1/jobs/{id}/events, Server-Sent Events) until it finishes; a
// collapsed row per file, "Open" shows it in the Read tab (a PDF's pages apart); "Download all" as
// JSON or text; the earlier jobs listed with their state, cancel and delete.

import { deleteJob, followJobEvents, listJobs, submitJob } from "../api.js";
import { $, dropZone, el, saveFile } from "../dom.js";
import { locale, onLanguageChange, t } from "../i18n.js";
import { appendOptionFields, readOptions } from "../options.js";
import { errorText } from "./error.js";
import { loadHistory } from "./history.js";
import { openResult } from "./read.js";
import { onTabShown } from "./tabs.js";

const JOBS_SHOWN = 20;
const batch = {
  job: null,      // the finished job shown (its result)
  current: null,  // id of the job shown
  stream: null,   // AbortController of the events followed
  urls: [],       // object URLs of the files sent (images only): opened results show them
  urlsJob: null,  // the job they were sent in
};

function batchForm(files) {
  const data = new FormData();
  for (const file of files) data.append("images", file, file.name || "upload");
  appendOptionFields(data, readOptions());
  return data;
}

function setStatus(text) {
  $("batch-status").textContent = text;
}

function batchRows(names) {
  $("batch-table").querySelector("tbody").replaceChildren(...names.map((name, i) => {
    const tr = el("tr");
    tr.dataset.index = String(i);
    tr.dataset.status = "uploading";
    tr.append(el("td", "name", name), el("td", "status", t("st_uploading")), el("td", "text"), el("td", "actions"));
    return tr;
  }));
  $("batch-table").hidden = names.length === 0;
}

function setDownloadsAll(enabled) {
  $("batch-json").disabled = $("batch-text").disabled = !enabled;
}

async function submitBatch(fileList) {
  const files = Array.from(fileList);
  if (!files.length) return;
  stopFollowing();
  batch.job = null;
  revokeBatchUrls();
  batch.urls = files.map((f) => (f.type.startsWith("image/") && !/tiff/.test(f.type) ? URL.createObjectURL(f) : null));
  setDownloadsAll(false);
  batchRows(files.map((f) => f.name));
  setStatus(t("batch_uploading", { n: files.length }));
  $("batch-progress").hidden = false;
  $("batch-progress").value = 0;
  let job;
  try {
    job = await submitJob(batchForm(files));
  } catch (e) {
    setStatus(errorText(e));
    return;
  }
  batch.urlsJob = job.id;  // the object URLs of these files show them when opened
  followJob(job.id);
  loadJobs();
}

function revokeBatchUrls() {
  for (const url of batch.urls) if (url) URL.revokeObjectURL(url);
  batch.urls = [];
}

function stopFollowing() {
  if (batch.stream) batch.stream.abort();
  batch.stream = null;
}

// Follow a job's progress events until its result (the whole job) arrives.
async function followJob(id) {
  stopFollowing();
  const controller = new AbortController();
  batch.stream = controller;
  $("batch-cancel").disabled = false;
  try {
    await followJobEvents(id, controller.signal, (name, data) => {
      if (controller.signal.aborted) return;
      if (name === "progress") showJob(data);
      else if (name === "result") finishJob(data);
      else if (name === "error") setStatus(errorText(data));
    });
  } catch (e) {
    if (e.name !== "AbortError") setStatus(errorText(e));
  } finally {
    if (batch.stream === controller) batch.stream = null;
  }
}

function finishJob(job) {
  batch.job = job;
  showJob(job);
  setDownloadsAll(true);
  $("batch-cancel").disabled = true;
  loadHistory();
  loadJobs();
}

function showJob(job) {
  const finished = job.done + job.failed + job.cancelled;
  setStatus(t("batch_progress", { id: job.id.slice(0, 8), finished, total: job.total, failed: job.failed }));
  $("batch-progress").hidden = false;
  $("batch-progress").value = job.progress;
  batch.current = job.id;
  if (document.querySelectorAll("#batch-table tbody tr").length !== job.items.length) {
    batchRows(job.items.map((item) => item.name));
  }
  for (const item of job.items) {
    const tr = document.querySelector(`#batch-table tr[data-index="${item.index}"]`);
    if (tr) showItem(tr, item, job);
  }
}

function showItem(tr, item, job) {
  tr.dataset.status = item.status;
  tr.querySelector(".status").textContent = t(`st_${item.status}`) + (item.cached ? ` (${t("cached")})` : "");
  const text = tr.querySelector(".text");
  const actions = tr.querySelector(".actions");
  if (item.result) {
    // Collapsed: the first line, and the page count of a document; "Open" shows it all.
    const snippet = el("span", "snippet", item.result.text.split(/\f|\n/).find((s) => s.trim()) || "");
    snippet.title = item.result.text.replace(/\f/g, "\n\n");
    const parts = [snippet];
    if (item.result.page_count > 1) parts.push(el("span", "pages", t("n_pages", { n: item.result.pages.length })));
    text.replaceChildren(...parts);
    const open = el("button", "open", t("open"));
    open.type = "button";
    const image = job.id === batch.urlsJob ? batch.urls[item.index] : null;
    open.addEventListener("click", () => openResult(item.result, item.name, image));
    actions.replaceChildren(open);
  } else if (item.error) {
    text.textContent = errorText(item.error);
    text.title = item.error.message;
    actions.replaceChildren();
  }
}

// The job's texts, each file under its name, a document's pages apart.
function jobText(job) {
  return job.items.map((item) => {
    let body;
    if (item.result) {
      const pages = item.result.pages || [];
      body = pages.length > 1
        ? pages.map((p) => `--- ${t("page_n", { n: p.page })} ---\n${p.text}`).join("\n")
        : item.result.text;
    } else {
      body = item.error ? `error: ${item.error.code}: ${item.error.message}` : `(${item.status})`;
    }
    return `==> ${item.name} <==\n${body}\n`;
  }).join("");
}

function downloadAll(kind) {
  const job = batch.job;
  if (!job) return;
  if (kind === "json") {
    saveFile(new Blob([JSON.stringify(job, null, 2)], { type: "application/json" }), `ocr-job-${job.id}.json`);
  } else {
    saveFile(new Blob([jobText(job)], { type: "text/plain;charset=utf-8" }), `ocr-job-${job.id}.txt`);
  }
}

// ---- earlier jobs -----------------------------------------------------------------------------

async function loadJobs() {
  let body;
  try {
    body = await listJobs(JOBS_SHOWN);
  } catch (_) {
    $("job-list").replaceChildren();
    return;
  }
  const items = body.jobs.map(jobItem);
  if (!items.length) items.push(el("li", "muted", t("jobs_none")));
  $("job-list").replaceChildren(...items);
}

function jobItem(job) {
  const li = el("li");
  li.dataset.id = job.id;
  li.dataset.status = job.status;
  if (job.id === batch.current) li.classList.add("current");
  const when = new Date(job.created_at * 1000).toLocaleString(locale());
  const desc = el("span", "job-desc",
    `${t(`st_${job.status}`)} · ${t("job_line", { when, total: job.total, done: job.done, failed: job.failed })}`);
  const open = el("button", "open", t("open"));
  open.type = "button";
  open.title = t("job_open_hint");
  open.addEventListener("click", () => openJob(job.id));
  const unfinished = job.status === "pending" || job.status === "running";
  const remove = el("button", unfinished ? "cancel" : "delete", t(unfinished ? "cancel" : "delete"));
  remove.type = "button";
  remove.addEventListener("click", () => removeJob(job.id));
  li.append(desc, open, remove);
  return li;
}

function openJob(id) {
  stopFollowing();
  batch.job = null;
  setDownloadsAll(false);
  followJob(id);  // a finished job answers its result at once
}

// Cancel an unfinished job (its pending files are dropped), or remove a finished one.
async function removeJob(id) {
  try {
    await deleteJob(id);
  } catch (e) {
    setStatus(errorText(e));
  }
  if (batch.current === id && batch.job && batch.job.id === id) {  // removed the job shown
    batch.job = null;
    batchRows([]);
    setStatus("");
    $("batch-progress").hidden = true;
  }
  loadJobs();
  loadHistory();
}

export function setupBatch() {
  $("batch-input").addEventListener("change", (e) => { submitBatch(e.target.files); e.target.value = ""; });
  dropZone($("batch-dropzone"), $("batch-input"), submitBatch);
  $("batch-json").addEventListener("click", () => downloadAll("json"));
  $("batch-text").addEventListener("click", () => downloadAll("text"));
  $("batch-cancel").addEventListener("click", () => { if (batch.current) removeJob(batch.current); });
  $("jobs-refresh").addEventListener("click", loadJobs);
  onTabShown("batch", loadJobs);
  onLanguageChange(() => {
    if (batch.job) showJob(batch.job);
    loadJobs();
  });
  loadJobs();
}
