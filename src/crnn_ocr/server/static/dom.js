// Small DOM helpers every view uses: no state, no strings, no requests.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** A new element ``tag`` with ``className`` and ``text`` (each optional). */
export function el(tag, className = "", text = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

/** Let the browser save ``blob`` as the file ``name``. */
export function saveFile(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** Put ``text`` on the clipboard; where the Clipboard API is not at hand (older browsers, plain-http
 * hosts) copy it from ``fallback`` (a textarea holding it), when given. True when it was copied. */
export async function copyText(text, fallback = null) {
  let ok = false;
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); ok = true; } catch (_) { ok = false; }
  }
  if (!ok && fallback) {
    fallback.focus();
    fallback.select();
    try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
  }
  return ok;
}

/** A file drop zone: ``zone`` is highlighted while files are dragged over it and calls ``onFiles``
 * with the dropped FileList; Enter or Space opens the file picker ``input`` it stands for. */
export function dropZone(zone, input, onFiles) {
  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (e) => {
    e.preventDefault();
    zone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("dragging")));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    e.stopPropagation();
    if (e.dataTransfer && e.dataTransfer.files.length) onFiles(e.dataTransfer.files);
  });
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
  });
}

/** The base64 of ``blob``'s bytes (for the JSON endpoints). */
export function blobBase64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

/** The Blob behind an object URL this page made (URL.createObjectURL). */
export async function objectUrlBlob(url) {
  return (await fetch(url)).blob();
}
