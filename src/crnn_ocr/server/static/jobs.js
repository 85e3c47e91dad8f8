"use strict";
// Batch jobs and history on the web page. Loaded after app.js (uses its $, t, I18N, state,
// applyLanguage, saveBlob, apiFetch). Many files → one POST /api/v1/jobs (multipart, the options of the
// form above) → GET /api/v1/jobs/{id} every half second until it finishes, a row per file with
// its status → "Download all" as JSON (the whole job) or plain text. History: GET /api/v1/history.

Object.assign(I18N.en, {
  batch: "Batch: many files at once",
  batch_drop: "Drop many images or PDFs here, or choose files: they are read in the background with the options above",
  file: "File", status: "Status", text: "Text",
  download_all_json: "Download all (JSON)", download_all_text: "Download all (text)",
  history: "History", history_search: "Search the text of past results", search: "Search",
  st_uploading: "uploading", st_pending: "queued", st_running: "reading", st_done: "done",
  st_failed: "failed", st_cancelled: "cancelled",
  batch_progress: "Job {id}: {finished} of {total} files finished ({failed} failed)",
  batch_uploading: "Uploading {n} files…",
  history_total: "{total} results", history_none: "Nothing yet.",
  cached: "from cache",
});
Object.assign(I18N.zh, {
  batch: "批量：一次多个文件",
  batch_drop: "把多张图片或 PDF 拖到这里，或选择文件：用上面的选项在后台识别",
  file: "文件", status: "状态", text: "文字",
  download_all_json: "全部下载（JSON）", download_all_text: "全部下载（文本）",
  history: "历史记录", history_search: "搜索以往结果中的文字", search: "搜索",
  st_uploading: "上传中", st_pending: "排队中", st_running: "识别中", st_done: "完成",
  st_failed: "失败", st_cancelled: "已取消",
  batch_progress: "任务 {id}：{total} 个文件已完成 {finished} 个（失败 {failed} 个）",
  batch_uploading: "正在上传 {n} 个文件…",
  history_total: "共 {total} 条", history_none: "暂无记录。",
  cached: "来自缓存",
});

const batch = { job: null, timer: null, historySeq: 0 };

function batchForm(files) {
  const form = $("options").elements;
  const data = new FormData();
  for (const file of files) data.append("images", file, file.name || "upload");
  for (const name of ["detect", "auto_orient", "fields", "grayscale", "clahe", "denoise", "binarize", "morph_close", "deskew", "page_script"]) {
    data.append(name, form[name].checked ? "true" : "false");
  }
  data.append("detector", form.detector.value);
  if (form.dpi.value) data.append("dpi", form.dpi.value);
  if (form.pages.value.trim()) data.append("pages", form.pages.value.trim());
  appendDecodeFields(data, form);  // app.js
  return data;
}

function batchRows(names) {
  const body = document.querySelector("#batch-table tbody");
  body.replaceChildren();
  names.forEach((name, i) => {
    const tr = document.createElement("tr");
    tr.dataset.index = String(i);
    tr.dataset.status = "uploading";
    for (const cls of ["name", "status", "text"]) {
      const td = document.createElement("td");
      td.className = cls;
      tr.appendChild(td);
    }
    tr.querySelector(".name").textContent = name;
    tr.querySelector(".status").textContent = t("st_uploading");
    body.appendChild(tr);
  });
  $("batch-table").hidden = names.length === 0;
}

async function submitBatch(files) {
  files = Array.from(files);
  if (!files.length) return;
  clearTimeout(batch.timer);
  batch.job = null;
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
    const message = body && body.error ? body.error.message : t("err_unknown");
    $("batch-status").textContent = message;
    return;
  }
  pollJob(body.id);
}

async function pollJob(id) {
  let job;
  try {
    const res = await apiFetch(`/api/v1/jobs/${id}`, { cache: "no-store" });
    job = await res.json();
    if (!res.ok) throw new Error(job.error ? job.error.message : res.statusText);
  } catch (e) {
    $("batch-status").textContent = String(e.message || e);
    batch.timer = setTimeout(() => pollJob(id), 2000);
    return;
  }
  batch.job = job;
  showJob(job);
  if (job.status === "completed" || job.status === "cancelled") {
    $("batch-json").disabled = $("batch-text").disabled = false;
    loadHistory();
  } else {
    batch.timer = setTimeout(() => pollJob(id), 500);
  }
}

function showJob(job) {
  const finished = job.done + job.failed + job.cancelled;
  $("batch-status").textContent = t("batch_progress", { id: job.id.slice(0, 8), finished, total: job.total, failed: job.failed });
  $("batch-progress").value = job.progress;
  for (const item of job.items) {
    const tr = document.querySelector(`#batch-table tr[data-index="${item.index}"]`);
    if (!tr) continue;
    tr.dataset.status = item.status;
    tr.querySelector(".status").textContent = t(`st_${item.status}`) + (item.cached ? ` (${t("cached")})` : "");
    if (item.result) tr.querySelector(".text").textContent = item.result.text;
    if (item.error) {
      const key = `err_${item.error.code}`;
      const known = I18N[state.lang][key] || I18N.en[key];
      tr.querySelector(".text").textContent = known || item.error.message;
      tr.querySelector(".text").title = item.error.message;
    }
  }
}

function jobText(job) {
  return job.items.map((item) => {
    const body = item.result ? item.result.text : item.error ? `error: ${item.error.code}: ${item.error.message}` : `(${item.status})`;
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

// ---- history ----------------------------------------------------------------------------------

async function loadHistory() {
  const seq = ++batch.historySeq;  // only the latest answer is shown
  const q = $("history-search").elements.q.value.trim();
  const params = new URLSearchParams({ page: "1", page_size: "20" });
  if (q) params.set("q", q);
  let body;
  try {
    const res = await apiFetch(`/api/v1/history?${params}`, { cache: "no-store" });
    body = await res.json();
    if (!res.ok) throw new Error(body.error ? body.error.message : res.statusText);
  } catch (e) {
    if (seq === batch.historySeq) $("history-total").textContent = String(e.message || e);
    return;
  }
  if (seq !== batch.historySeq) return;
  const list = $("history-list");
  list.replaceChildren();
  for (const entry of body.entries) {
    const li = document.createElement("li");
    const meta = document.createElement("span");
    meta.className = "meta";
    const when = new Date(entry.created_at * 1000).toLocaleString(state.lang === "zh" ? "zh-CN" : "en");
    meta.textContent = [when, entry.source, entry.name, entry.cached ? t("cached") : "", `${Math.round(entry.total_ms)} ms`]
      .filter(Boolean).join(" · ");
    const text = document.createElement("span");
    text.className = "htext";
    text.textContent = entry.text;
    li.append(meta, text);
    list.appendChild(li);
  }
  $("history-total").textContent = body.total ? t("history_total", { total: body.total }) : t("history_none");
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
  $("history-search").addEventListener("submit", (e) => { e.preventDefault(); loadHistory(); });
  $("lang-toggle").addEventListener("click", () => { if (batch.job) showJob(batch.job); loadHistory(); });
  applyLanguage();
  loadHistory();
})();
