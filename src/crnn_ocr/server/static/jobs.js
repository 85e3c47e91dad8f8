"use strict";
// The Batch and History tabs. Loaded after app.js (uses its $, t, I18N, state, apiFetch, readEvents,
// formOptions, appendOptionFields, openResult, saveBlob, showTab). Many files → one POST /api/v1/jobs
// (multipart, the options of the Read tab) → its progress events (GET /api/v1/jobs/{id}/events,
// Server-Sent Events) until it finishes; a collapsed row per file, "Open" shows it in the viewer
// (a PDF's pages apart); earlier jobs listed with their state, cancel and delete. History:
// GET /api/v1/history (search ignoring case, Chinese too; paged), refreshed after every read,
// each entry reopened in the viewer with its boxes (and its image while this browser has it).

const HISTORY_PAGE_SIZE = 10;
const batch = { job: null, files: [], urls: [], stream: null, historySeq: 0, historyPage: 1 };

function batchForm(files) {
  const data = new FormData();
  for (const file of files) data.append("images", file, file.name || "upload");
  appendOptionFields(data, formOptions());  // app.js: the options of the Read tab
  return data;
}

function cell(tr, cls) {
  const td = document.createElement("td");
  td.className = cls;
  tr.appendChild(td);
  return td;
}

function batchRows(names) {
  const body = document.querySelector("#batch-table tbody");
  body.replaceChildren();
  names.forEach((name, i) => {
    const tr = document.createElement("tr");
    tr.dataset.index = String(i);
    tr.dataset.status = "uploading";
    cell(tr, "name").textContent = name;
    cell(tr, "status").textContent = t("st_uploading");
    cell(tr, "text");
    cell(tr, "actions");
    body.appendChild(tr);
  });
  $("batch-table").hidden = names.length === 0;
}

async function submitBatch(files) {
  files = Array.from(files);
  if (!files.length) return;
  stopFollowing();
  batch.job = null;
  batch.files = files;
  revokeBatchUrls();
  batch.urls = files.map((f) => (f.type.startsWith("image/") && !/tiff/.test(f.type) ? URL.createObjectURL(f) : null));
  $("batch-json").disabled = $("batch-text").disabled = true;
  batchRows(files.map((f) => f.name));
  $("batch-status").textContent = t("batch_uploading", { n: files.length });
  $("batch-progress").hidden = false;
  $("batch-progress").value = 0;
  let res;
  try {
    res = await apiFetch("/api/v1/jobs", { method: "POST", body: batchForm(files) });
  } catch (_) {
    $("batch-status").textContent = t("err_network");
    return;
  }
  const body = await res.json().catch(() => null);
  if (res.status !== 202 || !body) {
    $("batch-status").textContent = errorText(body && body.error);
    return;
  }
  batch.urlsJob = body.id;  // the object URLs of these files show them when opened
  followJob(body.id);
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
    const res = await apiFetch(`/api/v1/jobs/${id}/events`, { signal: controller.signal, cache: "no-store" });
    if (!res.ok) {
      const body = await res.json().catch(() => null);
      $("batch-status").textContent = errorText(body && body.error);
      return;
    }
    await readEvents(res, (name, data) => {
      if (controller.signal.aborted) return;
      if (name === "progress") showJob(data);
      else if (name === "result") finishJob(data);
      else if (name === "error") $("batch-status").textContent = errorText(data);
    });
  } catch (e) {
    if (e.name !== "AbortError") $("batch-status").textContent = String(e.message || e);
  } finally {
    if (batch.stream === controller) batch.stream = null;
  }
}

function finishJob(job) {
  batch.job = job;
  showJob(job);
  $("batch-json").disabled = $("batch-text").disabled = false;
  $("batch-cancel").disabled = true;
  loadHistory();
  loadJobs();
}

function errorText(error) {
  if (!error) return t("err_unknown");
  const key = `err_${error.code}`;
  return key in I18N.en ? t(key) : error.message || t("err_unknown");
}

function showJob(job) {
  const finished = job.done + job.failed + job.cancelled;
  $("batch-status").textContent = t("batch_progress", { id: job.id.slice(0, 8), finished, total: job.total, failed: job.failed });
  $("batch-progress").hidden = false;
  $("batch-progress").value = job.progress;
  batch.current = job.id;
  if (document.querySelectorAll("#batch-table tbody tr").length !== job.items.length) {
    batchRows(job.items.map((item) => item.name));
  }
  for (const item of job.items) {
    const tr = document.querySelector(`#batch-table tr[data-index="${item.index}"]`);
    if (!tr) continue;
    tr.dataset.status = item.status;
    tr.querySelector(".status").textContent = t(`st_${item.status}`) + (item.cached ? ` (${t("cached")})` : "");
    const text = tr.querySelector(".text");
    const actions = tr.querySelector(".actions");
    if (item.result) {
      // Collapsed: the first line, and the page count of a document; "Open" shows it all.
      const snippet = document.createElement("span");
      snippet.className = "snippet";
      snippet.textContent = item.result.text.split(/\f|\n/).find((s) => s.trim()) || "";
      snippet.title = item.result.text.replace(/\f/g, "\n\n");
      const parts = [snippet];
      if (item.result.page_count > 1) {
        const pages = document.createElement("span");
        pages.className = "pages";
        pages.textContent = t("n_pages", { n: item.result.pages.length });
        parts.push(pages);
      }
      text.replaceChildren(...parts);
      const open = document.createElement("button");
      open.type = "button";
      open.className = "open";
      open.textContent = t("open");
      open.addEventListener("click", () => openResult(item.result, item.name, job.id === batch.urlsJob ? batch.urls[item.index] : null));
      actions.replaceChildren(open);
    } else if (item.error) {
      text.textContent = errorText(item.error);
      text.title = item.error.message;
      actions.replaceChildren();
    }
  }
}

function jobText(job) {
  return job.items.map((item) => {
    let body;
    if (item.result) {
      const pages = item.result.pages || [];
      body = pages.length > 1
        ? pages.map((p) => `--- ${t("page_n", { n: p.page })} ---\n${p.text}`).join("\n")  // pages kept apart
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
    saveBlob(new Blob([JSON.stringify(job, null, 2)], { type: "application/json" }), `ocr-job-${job.id}.json`);
  } else {
    saveBlob(new Blob([jobText(job)], { type: "text/plain;charset=utf-8" }), `ocr-job-${job.id}.txt`);
  }
}

// ---- earlier jobs -----------------------------------------------------------------------------

async function loadJobs() {
  let body;
  try {
    const res = await apiFetch("/api/v1/jobs?page_size=20", { cache: "no-store" });
    body = await res.json();
    if (!res.ok) throw new Error(errorText(body.error));
  } catch (e) {
    $("job-list").replaceChildren();
    return;
  }
  const list = $("job-list");
  list.replaceChildren();
  for (const job of body.jobs) {
    const li = document.createElement("li");
    li.dataset.id = job.id;
    li.dataset.status = job.status;
    if (job.id === batch.current) li.classList.add("current");
    const desc = document.createElement("span");
    desc.className = "job-desc";
    const when = new Date(job.created_at * 1000).toLocaleString(state.lang === "zh" ? "zh-CN" : "en");
    desc.textContent = `${t(`st_${job.status}`)} · ${t("job_line", { when, total: job.total, done: job.done, failed: job.failed })}`;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open";
    open.textContent = t("open");
    open.title = t("job_open_hint");
    open.addEventListener("click", () => openJob(job.id));
    const unfinished = job.status === "pending" || job.status === "running";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = unfinished ? "cancel" : "delete";
    remove.textContent = t(unfinished ? "cancel" : "delete");
    remove.addEventListener("click", () => deleteJob(job.id));
    li.append(desc, open, remove);
    list.appendChild(li);
  }
  if (!body.jobs.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = t("jobs_none");
    list.appendChild(li);
  }
}

async function openJob(id) {
  stopFollowing();
  batch.job = null;
  $("batch-json").disabled = $("batch-text").disabled = true;
  followJob(id);  // a finished job answers its result at once
}

// Cancel an unfinished job (its pending files are dropped), or remove a finished one.
async function deleteJob(id) {
  try {
    const res = await apiFetch(`/api/v1/jobs/${id}`, { method: "DELETE" });
    if (!res.ok) {
      const body = await res.json().catch(() => null);
      $("batch-status").textContent = errorText(body && body.error);
    }
  } catch (e) {
    $("batch-status").textContent = String(e.message || e);
  }
  if (batch.current === id && batch.job && batch.job.id === id) {  // removed the job shown
    batch.job = null;
    batchRows([]);
    $("batch-status").textContent = "";
    $("batch-progress").hidden = true;
  }
  loadJobs();
  loadHistory();
}

// ---- history ----------------------------------------------------------------------------------

async function loadHistory(page = batch.historyPage) {
  const seq = ++batch.historySeq;  // only the latest answer is shown
  const q = $("history-search").elements.q.value.trim();
  const params = new URLSearchParams({ page: String(page), page_size: String(HISTORY_PAGE_SIZE) });
  if (q) params.set("q", q);
  let body;
  try {
    const res = await apiFetch(`/api/v1/history?${params}`, { cache: "no-store" });
    body = await res.json();
    if (!res.ok) throw new Error(errorText(body.error));
  } catch (e) {
    if (seq === batch.historySeq) $("history-total").textContent = String(e.message || e);
    return;
  }
  if (seq !== batch.historySeq) return;
  batch.historyPage = page;
  const list = $("history-list");
  list.replaceChildren();
  for (const entry of body.entries) {
    const li = document.createElement("li");
    li.dataset.id = String(entry.id);
    const main = document.createElement("div");
    main.className = "entry-body";
    const meta = document.createElement("span");
    meta.className = "meta";
    const when = new Date(entry.created_at * 1000).toLocaleString(state.lang === "zh" ? "zh-CN" : "en");
    meta.textContent = [when, t(`src_${entry.source}`), entry.name, entry.model, entry.cached ? t("cached") : "",
      `${Math.round(entry.total_ms)} ms`].filter(Boolean).join(" · ");
    const text = document.createElement("span");
    text.className = "htext snippet";  // collapsed to one line; the whole text in the viewer
    text.textContent = entry.text.replace(/\f/g, "\n");
    text.title = entry.text.replace(/\f/g, "\n\n").slice(0, 2000);
    main.append(meta, text);
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open";
    open.textContent = t("open");
    open.addEventListener("click", () => reopenEntry(entry));
    li.append(main, open);
    list.appendChild(li);
  }
  const pages = Math.max(1, Math.ceil(body.total / HISTORY_PAGE_SIZE));
  $("history-total").textContent = body.total ? t("history_total", { total: body.total }) : t("history_none");
  $("history-page").textContent = body.total ? t("history_page", { page, pages }) : "";
  $("history-prev").disabled = page <= 1;
  $("history-next").disabled = page >= pages;
}

async function reopenEntry(entry) {
  try {
    const res = await apiFetch(`/api/v1/history/${entry.id}`, { cache: "no-store" });
    const body = await res.json();
    if (!res.ok) throw new Error(errorText(body.error));
    openResult(body.result, entry.name, state.images[entry.sha256] || null);
  } catch (e) {
    $("history-total").textContent = String(e.message || e);
  }
}

// ---- start ------------------------------------------------------------------------------------

(function setupJobs() {
  $("batch-input").addEventListener("change", (e) => { submitBatch(e.target.files); e.target.value = ""; });
  const zone = $("batch-dropzone");
  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (e) => {
    e.preventDefault();
    zone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("dragging")));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    e.stopPropagation();
    if (e.dataTransfer && e.dataTransfer.files.length) submitBatch(e.dataTransfer.files);
  });
  $("batch-json").addEventListener("click", () => downloadAll("json"));
  $("batch-text").addEventListener("click", () => downloadAll("text"));
  $("batch-cancel").addEventListener("click", () => { if (batch.current) deleteJob(batch.current); });
  $("jobs-refresh").addEventListener("click", loadJobs);
  $("history-search").addEventListener("submit", (e) => { e.preventDefault(); loadHistory(1); });
  $("history-prev").addEventListener("click", () => loadHistory(batch.historyPage - 1));
  $("history-next").addEventListener("click", () => loadHistory(batch.historyPage + 1));
  document.addEventListener("ocr:read", () => loadHistory(1));  // live: after every read
  document.addEventListener("tab:shown", (e) => {
    if (e.detail === "history") loadHistory();
    if (e.detail === "batch") loadJobs();
  });
  $("lang-toggle").addEventListener("click", () => {
    if (batch.job) showJob(batch.job);
    loadHistory();
    loadJobs();
  });
  applyLanguage();
  loadHistory(1);
  loadJobs();
})();
