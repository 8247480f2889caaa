// Zhiwen web UI: plain JavaScript, no build step. Talks to the native API.
"use strict";

// ---------- i18n ----------
const STRINGS = {
  zh: {
    "nav.chat": "问答", "nav.kbs": "知识库",
    "chat.new": "新对话", "chat.kb": "知识库", "chat.send": "发送", "chat.stop": "停止", "chat.source": "出处",
    "chat.empty": "选择知识库，然后提问。答案中的 [n] 可点击查看出处。",
    "chat.placeholder": "输入问题，Enter 发送，Shift+Enter 换行",
    "chat.nokb": "还没有知识库：先到“知识库”页面创建并上传文档。",
    "chat.copy": "复制", "chat.copied": "已复制", "chat.sources": "来源", "chat.stopped": "（已停止）",
    "chat.open": "打开原文件", "chat.page": "第 {n} 页", "chat.delete": "删除", "chat.query": "检索：",
    "kb.name": "知识库名称", "kb.desc": "描述（可选）", "kb.create": "创建知识库", "kb.pick": "创建或选择一个知识库。",
    "kb.drop": "把文件拖到这里，或点击选择（PDF、Word、Excel、CSV、Markdown、HTML、文本）",
    "kb.upload": "上传文档", "kb.docs": "文档", "kb.search": "检索测试", "kb.searchbtn": "检索",
    "kb.rename": "重命名", "kb.delete": "删除知识库", "kb.confirmDelete": "确定删除知识库“{name}”及其全部文档？",
    "kb.confirmDoc": "确定删除文档“{name}”？", "kb.newName": "新的名称",
    "doc.name": "名称", "doc.format": "格式", "doc.size": "大小", "doc.chunks": "分块", "doc.status": "状态", "doc.updated": "更新时间",
    "doc.view": "分块", "doc.reingest": "重新解析", "doc.delete": "删除", "doc.ready": "就绪", "doc.none": "还没有文档。",
    "job.queued": "排队中", "job.running": "处理中", "job.failed": "失败", "job.canceled": "已取消", "job.succeeded": "完成",
    "job.uploading": "上传中", "job.unchanged": "内容未变", "job.cancel": "取消",
    "hit.none": "没有结果。", "chunks.title": "{name} 的分块",
  },
  en: {
    "nav.chat": "Ask", "nav.kbs": "Knowledge bases",
    "chat.new": "New chat", "chat.kb": "Knowledge base", "chat.send": "Send", "chat.stop": "Stop", "chat.source": "Source",
    "chat.empty": "Pick a knowledge base and ask a question. Click a [n] in an answer to see its source.",
    "chat.placeholder": "Ask a question. Enter sends, Shift+Enter adds a line",
    "chat.nokb": "No knowledge base yet: create one on the Knowledge bases page and upload documents.",
    "chat.copy": "Copy", "chat.copied": "Copied", "chat.sources": "Sources", "chat.stopped": "(stopped)",
    "chat.open": "Open original file", "chat.page": "page {n}", "chat.delete": "Delete", "chat.query": "Searched: ",
    "kb.name": "Knowledge base name", "kb.desc": "Description (optional)", "kb.create": "Create knowledge base", "kb.pick": "Create or pick a knowledge base.",
    "kb.drop": "Drop files here or click to choose (PDF, Word, Excel, CSV, Markdown, HTML, text)",
    "kb.upload": "Upload documents", "kb.docs": "Documents", "kb.search": "Retrieval test", "kb.searchbtn": "Search",
    "kb.rename": "Rename", "kb.delete": "Delete knowledge base", "kb.confirmDelete": "Delete knowledge base \"{name}\" and all its documents?",
    "kb.confirmDoc": "Delete document \"{name}\"?", "kb.newName": "New name",
    "doc.name": "Name", "doc.format": "Format", "doc.size": "Size", "doc.chunks": "Chunks", "doc.status": "Status", "doc.updated": "Updated",
    "doc.view": "Chunks", "doc.reingest": "Re-ingest", "doc.delete": "Delete", "doc.ready": "Ready", "doc.none": "No documents yet.",
    "job.queued": "Queued", "job.running": "Processing", "job.failed": "Failed", "job.canceled": "Canceled", "job.succeeded": "Done",
    "job.uploading": "Uploading", "job.unchanged": "Unchanged", "job.cancel": "Cancel",
    "hit.none": "No results.", "chunks.title": "Chunks of {name}",
  },
};
let lang = localStorage.getItem("zhiwen.lang") || ((navigator.language || "zh").toLowerCase().startsWith("zh") ? "zh" : "en");
function t(key, vars) {
  let s = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.zh[key] || key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replace("{" + k + "}", v);
  return s;
}
function applyLang() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  $("#lang-toggle").textContent = lang === "zh" ? "EN" : "中文";
}

// ---------- helpers ----------
const $ = (sel, root = document) => root.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const enc = encodeURIComponent;
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "html") e.innerHTML = v;
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c.nodeType ? c : document.createTextNode(c));
  return e;
}
function toast(msg) {
  const box = $("#toast");
  box.textContent = msg;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), 3500);
}
async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const resp = await fetch(path, opts);
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error((data.error && data.error.message) || resp.statusText);
  return data;
}
function fmtSize(n) {
  if (n < 1024) return n + " B";
  if (n < 1 << 20) return (n / 1024).toFixed(1) + " KB";
  return (n / (1 << 20)).toFixed(1) + " MB";
}
function fmtTime(s) {
  const d = new Date(s);
  return isNaN(d) ? "" : d.toLocaleString(lang === "zh" ? "zh-CN" : "en-US", { hour12: false });
}

// Markdown subset: paragraphs, line breaks, **bold**, *italic*, `code`,
// fenced code, lists, headings, pipe tables. Input is escaped first, so
// nothing in an answer can inject markup. Citations [n] become buttons.
function renderMarkdown(src, cited) {
  const lines = esc(src).split("\n");
  let html = "", i = 0;
  const inline = (s) => s
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^*])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>")
    .replace(/\[(\d{1,3}(?:\s*[,，]\s*\d{1,3})*)\]/g, (m, nums) => nums.split(/[,，]/).map((n) => {
      n = n.trim();
      return cited.has(Number(n)) ? `<button class="cite" data-n="${n}">${n}</button>` : `[${n}]`;
    }).join(""));
  while (i < lines.length) {
    const line = lines[i];
    if (/^```/.test(line)) {
      const buf = [];
      for (i++; i < lines.length && !/^```/.test(lines[i]); i++) buf.push(lines[i]);
      i++;
      html += `<pre><code>${buf.join("\n")}</code></pre>`;
    } else if (/^#{1,6}\s/.test(line)) {
      const level = Math.min(6, line.match(/^#+/)[0].length + 2);
      html += `<h${level}>${inline(line.replace(/^#+\s*/, ""))}</h${level}>`; i++;
    } else if (/^\s*([-*]|\d+\.)\s+/.test(line)) {
      const ordered = /^\s*\d+\./.test(line);
      const items = [];
      while (i < lines.length && /^\s*([-*]|\d+\.)\s+/.test(lines[i])) items.push(lines[i++].replace(/^\s*([-*]|\d+\.)\s+/, ""));
      html += (ordered ? "<ol>" : "<ul>") + items.map((it) => `<li>${inline(it)}</li>`).join("") + (ordered ? "</ol>" : "</ul>");
    } else if (/^\|.*\|\s*$/.test(line)) {
      const rows = [];
      while (i < lines.length && /^\|.*\|\s*$/.test(lines[i])) rows.push(lines[i++]);
      html += "<table>" + rows.filter((r) => !/^\|[\s:|-]+\|$/.test(r)).map((r) =>
        "<tr>" + r.slice(1, -1).split("|").map((c) => `<td>${inline(c.trim())}</td>`).join("") + "</tr>").join("") + "</table>";
    } else if (line.trim() === "") {
      i++;
    } else {
      const buf = [];
      while (i < lines.length && lines[i].trim() !== "" && !/^(```|#{1,6}\s|\s*([-*]|\d+\.)\s|\|)/.test(lines[i])) buf.push(lines[i++]);
      if (buf.length === 0) buf.push(lines[i++]);
      html += `<p>${buf.map(inline).join("<br>")}</p>`;
    }
  }
  return html;
}

// Reads a server-sent event stream from a fetch response, calling onEvent(name, data).
async function readSSE(resp, onEvent) {
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let idx;
    while ((idx = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, idx);
      buf = buf.slice(idx + 2);
      let name = "message", data = "";
      for (const l of block.split("\n")) {
        if (l.startsWith("event:")) name = l.slice(6).trim();
        else if (l.startsWith("data:")) data += l.slice(5).trim();
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}

// ---------- state ----------
const state = { kbs: [], kb: localStorage.getItem("zhiwen.kb") || "", conversation: null, abort: null, currentKB: null };

async function loadKBs() {
  const data = await api("GET", "/api/kbs");
  state.kbs = data.kbs;
  const picker = $("#kb-picker");
  picker.innerHTML = "";
  if (!state.kbs.find((k) => k.name === state.kb)) state.kb = state.kbs.length ? state.kbs[0].name : "";
  for (const kb of state.kbs) picker.append(el("option", { value: kb.name, selected: kb.name === state.kb }, `${kb.name} (${kb.documents})`));
  renderKBList();
}

// ---------- chat ----------
async function loadConversations() {
  const data = await api("GET", "/api/conversations");
  const list = $("#conv-list");
  list.innerHTML = "";
  for (const c of data.conversations) {
    list.append(el("li", { class: c.id === state.conversation ? "active" : "", onclick: () => openConversation(c.id) },
      el("span", { class: "title", title: c.title }, c.title),
      el("button", { class: "ghost small", title: t("chat.delete"), onclick: async (ev) => {
        ev.stopPropagation();
        await api("DELETE", "/api/conversations/" + enc(c.id));
        if (state.conversation === c.id) newChat();
        loadConversations();
      } }, "✕")));
  }
}

function newChat() {
  state.conversation = null;
  $("#messages").innerHTML = "";
  $("#messages").append(el("div", { class: "empty", id: "chat-empty" }, state.kbs.length ? t("chat.empty") : t("chat.nokb")));
  $("#source-panel").hidden = true;
  loadConversations();
}

async function openConversation(id) {
  const c = await api("GET", "/api/conversations/" + enc(id));
  state.conversation = c.id;
  if (c.kbs && c.kbs.length) { state.kb = c.kbs[0]; $("#kb-picker").value = state.kb; }
  const box = $("#messages");
  box.innerHTML = "";
  for (const turn of c.turns || []) {
    addUserMessage(turn.question);
    const view = addAssistantMessage();
    view.finish({ text: turn.answer, citations: turn.citations || [], refused: turn.refused });
  }
  $("#conv-sidebar").classList.remove("open");
  loadConversations();
}

function addUserMessage(text) {
  $("#chat-empty")?.remove();
  const m = el("div", { class: "msg user" }, el("div", { class: "bubble" }, text));
  $("#messages").append(m);
  m.scrollIntoView({ block: "end" });
}

// addAssistantMessage returns a view that shows streamed text, then the final answer.
function addAssistantMessage() {
  const bubble = el("div", { class: "bubble typing" });
  const meta = el("div", { class: "meta" });
  const sources = el("div", { class: "sources" });
  const msg = el("div", { class: "msg assistant" }, bubble, sources, meta);
  $("#messages").append(msg);
  let text = "", sourceList = [];
  const scroll = () => { const box = $("#messages"); box.scrollTop = box.scrollHeight; };
  return {
    sources(list) { sourceList = list || []; },
    query(q) { meta.textContent = t("chat.query") + q; },
    append(delta) {
      text += delta;
      const cited = new Set(sourceList.map((s) => s.n));
      bubble.innerHTML = renderMarkdown(text, cited);
      scroll();
    },
    finish(answer, stopped) {
      bubble.classList.remove("typing");
      if (answer) {
        text = answer.text;
        const cites = answer.citations || [];
        const cited = new Set(cites.map((s) => s.n));
        bubble.innerHTML = renderMarkdown(text + (stopped ? " " + t("chat.stopped") : ""), cited);
        bubble.classList.toggle("refused", !!answer.refused);
        bubble.querySelectorAll(".cite").forEach((b) => b.addEventListener("click", () => showSource(cites.find((s) => String(s.n) === b.dataset.n))));
        sources.innerHTML = "";
        for (const s of cites) {
          const loc = s.page ? " · " + t("chat.page", { n: s.page }) : "";
          sources.append(el("span", { class: "source-chip", onclick: () => showSource(s) }, `[${s.n}] ${s.doc_name}${loc}`));
        }
      } else if (stopped) {
        bubble.innerHTML = renderMarkdown(text + " " + t("chat.stopped"), new Set());
      }
      meta.innerHTML = "";
      meta.append(el("button", { class: "ghost small", onclick: async () => {
        try { await navigator.clipboard.writeText(text); toast(t("chat.copied")); } catch { toast(text); }
      } }, t("chat.copy")));
      scroll();
    },
  };
}

function showSource(s) {
  if (!s) return;
  const panel = $("#source-panel");
  const body = $("#source-body");
  body.innerHTML = "";
  const loc = [s.page ? t("chat.page", { n: s.page }) : "", (s.headings || []).join(" / ")].filter(Boolean).join(" · ");
  const href = `/api/kbs/${enc(s.kb)}/documents/${enc(s.doc_id)}/file` + (s.page ? `#page=${s.page}` : "");
  body.append(
    el("div", { class: "source-doc" }, `[${s.n}] ${s.doc_name}`),
    el("div", { class: "source-loc" }, loc),
    el("div", { class: "source-text" }, s.text),
    el("p", {}, el("a", { href, target: "_blank", rel: "noopener", id: "open-original" }, t("chat.open"))));
  panel.hidden = false;
}

async function ask(question) {
  if (!state.kb) { toast(t("chat.nokb")); return; }
  addUserMessage(question);
  const view = addAssistantMessage();
  const ctrl = new AbortController();
  state.abort = ctrl;
  $("#send").hidden = true; $("#stop").hidden = false;
  let final = null;
  try {
    const resp = await fetch("/api/chat", {
      method: "POST", headers: { "Content-Type": "application/json" }, signal: ctrl.signal,
      body: JSON.stringify({ kb: state.kb, question, conversation_id: state.conversation || "", stream: true }),
    });
    if (!resp.ok) {
      const data = await resp.json().catch(() => ({}));
      throw new Error((data.error && data.error.message) || resp.statusText);
    }
    await readSSE(resp, (name, ev) => {
      if (name === "query") view.query(ev.query);
      else if (name === "sources") view.sources(ev.sources);
      else if (name === "delta") view.append(ev.delta);
      else if (name === "done") final = ev.answer;
      else if (name === "error") throw new Error(ev.message);
    });
    view.finish(final);
    if (final && final.conversation_id && final.conversation_id !== state.conversation) {
      state.conversation = final.conversation_id;
    }
    loadConversations();
  } catch (err) {
    if (err.name === "AbortError") view.finish(null, true);
    else { view.finish({ text: "⚠ " + err.message, citations: [] }); }
  } finally {
    state.abort = null;
    $("#send").hidden = false; $("#stop").hidden = true;
  }
}

// ---------- knowledge bases ----------
function renderKBList() {
  const list = $("#kb-list");
  list.innerHTML = "";
  for (const kb of state.kbs) {
    list.append(el("li", { class: state.currentKB === kb.name ? "active" : "", onclick: () => { location.hash = "#/kbs/" + enc(kb.name); } },
      el("span", { class: "title" }, kb.name), el("span", { class: "count" }, `${kb.documents} · ${kb.chunks}`)));
  }
}

const jobWatchers = new Map();

async function showKB(name) {
  state.currentKB = name;
  renderKBList();
  const main = $("#kb-main");
  let kb;
  try { kb = await api("GET", "/api/kbs/" + enc(name)); } catch (e) { main.innerHTML = ""; main.append(el("div", { class: "empty" }, e.message)); return; }
  main.innerHTML = "";
  const fileInput = el("input", { type: "file", multiple: true, hidden: true, id: "file-input", onchange: (ev) => uploadFiles(kb.name, ev.target.files) });
  const drop = el("div", { class: "dropzone", id: "dropzone", onclick: () => fileInput.click() }, t("kb.drop"));
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => { ev.preventDefault(); drop.classList.remove("over"); uploadFiles(kb.name, ev.dataTransfer.files); });
  const searchInput = el("input", { id: "hit-query", placeholder: t("kb.search") });
  const modeSelect = el("select", { id: "hit-mode" }, ["hybrid", "lexical", "dense"].map((m) => el("option", { value: m }, m)));
  const hits = el("div", { id: "hits" });
  main.append(
    el("div", { class: "kb-head" }, el("h2", {}, kb.name), el("span", { class: "desc" }, kb.description || ""),
      el("button", { class: "small", onclick: () => renameKB(kb.name) }, t("kb.rename")),
      el("button", { class: "small danger", onclick: () => deleteKB(kb.name) }, t("kb.delete"))),
    el("div", { class: "card" }, el("h3", {}, t("kb.upload")), drop, fileInput, el("ul", { class: "uploads", id: "uploads" })),
    el("div", { class: "card" }, el("h3", {}, t("kb.docs")), el("div", { id: "doc-table" })),
    el("div", { class: "card" }, el("h3", {}, t("kb.search")),
      el("form", { class: "search-row", onsubmit: (ev) => { ev.preventDefault(); hitTest(kb.name, searchInput.value, modeSelect.value); } },
        searchInput, modeSelect, el("button", { class: "primary" }, t("kb.searchbtn"))), hits));
  await refreshDocs(kb.name);
}

async function refreshDocs(kbName) {
  if (state.currentKB !== kbName) return;
  const data = await api("GET", `/api/kbs/${enc(kbName)}/documents`);
  const box = $("#doc-table");
  if (!box) return;
  box.innerHTML = "";
  if (!data.documents.length && !data.jobs.length) { box.append(el("div", { class: "empty" }, t("doc.none"))); return; }
  const rows = [];
  for (const j of data.jobs) {
    if (j.status === "succeeded") continue;
    const cls = j.status === "failed" ? "status-err" : "status-run";
    rows.push(el("tr", { class: "job-row" }, el("td", {}, j.name, j.error ? el("div", { class: "err-text" }, j.error) : null),
      el("td", { class: "hide-small" }, ""), el("td", { class: "hide-small" }, fmtSize(j.size)), el("td", {}, ""),
      el("td", { class: cls }, t("job." + j.status) + (j.status === "running" ? ` ${Math.round(j.fraction * 100)}%` : "")),
      el("td", { class: "hide-small" }, fmtTime(j.updated)),
      el("td", { class: "actions" }, j.status === "queued" || j.status === "running"
        ? el("button", { class: "small", onclick: async () => { await api("DELETE", "/api/jobs/" + enc(j.id)); refreshDocs(kbName); } }, t("job.cancel")) : "")));
  }
  for (const d of data.documents) {
    rows.push(el("tr", { "data-doc": d.id }, el("td", {}, d.name), el("td", { class: "hide-small" }, d.format), el("td", { class: "hide-small" }, fmtSize(d.size)),
      el("td", {}, String(d.chunks)), el("td", { class: "status-ok" }, t("doc.ready")), el("td", { class: "hide-small" }, fmtTime(d.updated)),
      el("td", { class: "actions" },
        el("button", { class: "small", onclick: () => showChunks(kbName, d) }, t("doc.view")),
        el("button", { class: "small", onclick: async () => { try { const j = await api("POST", `/api/kbs/${enc(kbName)}/documents/${enc(d.id)}/reingest`); watchJob(kbName, j, null); } catch (e) { toast(e.message); } } }, t("doc.reingest")),
        el("button", { class: "small", onclick: async () => {
          if (!confirm(t("kb.confirmDoc", { name: d.name }))) return;
          await api("DELETE", `/api/kbs/${enc(kbName)}/documents/${enc(d.id)}`); refreshDocs(kbName); loadKBs();
        } }, t("doc.delete")))));
  }
  box.append(el("table", { class: "docs" },
    el("thead", {}, el("tr", {}, el("th", {}, t("doc.name")), el("th", { class: "hide-small" }, t("doc.format")), el("th", { class: "hide-small" }, t("doc.size")),
      el("th", {}, t("doc.chunks")), el("th", {}, t("doc.status")), el("th", { class: "hide-small" }, t("doc.updated")), el("th", {}, ""))),
    el("tbody", {}, rows)));
}

// uploadFiles sends each file in its own request so each has its own
// progress bar: upload progress first, then the ingest job's progress.
function uploadFiles(kbName, files) {
  for (const file of files) {
    const bar = el("progress", { max: 100, value: 0 });
    const status = el("span", { class: "status-run" }, t("job.uploading"));
    const row = el("li", { "data-file": file.name }, el("span", { class: "name", title: file.name }, file.name), bar, status);
    $("#uploads").append(row);
    const form = new FormData();
    form.append("files", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/kbs/${enc(kbName)}/documents`);
    xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) bar.value = (ev.loaded / ev.total) * 30; };
    xhr.onload = () => {
      let data = {};
      try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (data.jobs && data.jobs.length) { watchJob(kbName, data.jobs[0], { bar, status }); return; }
      const msg = (data.refused && data.refused[0] && data.refused[0].error) || (data.error && data.error.message) || xhr.statusText;
      bar.value = 100; status.className = "status-err"; status.textContent = t("job.failed"); status.title = msg;
      row.append(el("div", { class: "err-text" }, msg));
    };
    xhr.onerror = () => { status.className = "status-err"; status.textContent = t("job.failed"); };
    xhr.send(form);
  }
}

function watchJob(kbName, job, view) {
  if (jobWatchers.has(job.id)) return;
  const es = new EventSource("/api/jobs/" + enc(job.id) + "/events");
  jobWatchers.set(job.id, es);
  let lastRefresh = 0;
  es.addEventListener("job", (ev) => {
    const j = JSON.parse(ev.data);
    if (view) {
      view.bar.value = 30 + 70 * (j.fraction || 0);
      view.status.className = j.status === "failed" ? "status-err" : j.status === "succeeded" ? "status-ok" : "status-run";
      view.status.textContent = j.status === "succeeded" && j.result && j.result.unchanged ? t("job.unchanged") : t("job." + j.status);
      if (j.error) view.status.title = j.error;
    }
    if (Date.now() - lastRefresh > 1000 || ["succeeded", "failed", "canceled"].includes(j.status)) {
      lastRefresh = Date.now();
      refreshDocs(kbName);
    }
    if (["succeeded", "failed", "canceled"].includes(j.status)) {
      es.close(); jobWatchers.delete(job.id);
      if (j.status === "failed" && view) view.status.parentElement.append(el("div", { class: "err-text" }, j.error));
      loadKBs();
    }
  });
  es.onerror = () => { es.close(); jobWatchers.delete(job.id); refreshDocs(kbName); };
}

async function showChunks(kbName, doc) {
  const data = await api("GET", `/api/kbs/${enc(kbName)}/documents/${enc(doc.id)}/chunks`);
  $("#modal-title").textContent = t("chunks.title", { name: doc.name });
  const body = $("#modal-body");
  body.innerHTML = "";
  for (const c of data.chunks) {
    const loc = [`#${c.seq}`, c.page ? t("chat.page", { n: c.page }) : "", (c.headings || []).join(" / "), `[${c.start}, ${c.end})`].filter(Boolean).join(" · ");
    body.append(el("div", { class: "chunk" }, el("div", { class: "chunk-head" }, loc), el("div", { class: "chunk-text" }, c.text)));
  }
  $("#modal").hidden = false;
}

async function hitTest(kbName, query, mode) {
  const box = $("#hits");
  box.innerHTML = "";
  if (!query.trim()) return;
  try {
    const data = await api("POST", "/api/search", { kb: kbName, query, mode, k: 10 });
    if (!data.hits.length) { box.append(el("div", { class: "empty" }, t("hit.none"))); return; }
    box.append(el("div", { class: "chunk-head" }, `${data.hits.length} · ${data.elapsed_ms.toFixed(1)} ms`));
    data.hits.forEach((h, i) => {
      const ranks = `lexical #${h.lexical_rank || "–"} · dense #${h.dense_rank || "–"}`;
      const loc = [h.chunk.page ? t("chat.page", { n: h.chunk.page }) : "", (h.chunk.headings || []).join(" / ")].filter(Boolean).join(" · ");
      box.append(el("div", { class: "hit" },
        el("div", { class: "hit-head" }, el("b", {}, `${i + 1}. ${h.doc_name}`), el("span", {}, loc), el("span", {}, `score ${h.score.toFixed(4)}`), el("span", {}, ranks)),
        el("div", { class: "hit-text" }, h.chunk.text)));
    });
  } catch (e) { toast(e.message); }
}

async function renameKB(name) {
  const next = prompt(t("kb.newName"), name);
  if (!next || next === name) return;
  try { await api("PATCH", "/api/kbs/" + enc(name), { name: next }); await loadKBs(); location.hash = "#/kbs/" + enc(next); } catch (e) { toast(e.message); }
}

async function deleteKB(name) {
  if (!confirm(t("kb.confirmDelete", { name }))) return;
  try { await api("DELETE", "/api/kbs/" + enc(name)); state.currentKB = null; await loadKBs(); location.hash = "#/kbs"; } catch (e) { toast(e.message); }
}

// ---------- routing ----------
async function route() {
  const hash = location.hash || "#/chat";
  const [, view, arg] = hash.split("/");
  const isKB = view === "kbs";
  $("#view-chat").hidden = isKB;
  $("#view-kbs").hidden = !isKB;
  $("#nav-chat").classList.toggle("active", !isKB);
  $("#nav-kbs").classList.toggle("active", isKB);
  if (isKB) {
    if (arg) await showKB(decodeURIComponent(arg));
    else { state.currentKB = null; renderKBList(); $("#kb-main").innerHTML = ""; $("#kb-main").append(el("div", { class: "empty" }, t("kb.pick"))); }
  }
}

// ---------- wiring ----------
function init() {
  applyLang();
  $("#lang-toggle").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("zhiwen.lang", lang); location.reload(); });
  $("#kb-picker").addEventListener("change", (ev) => { state.kb = ev.target.value; localStorage.setItem("zhiwen.kb", state.kb); });
  $("#new-chat").addEventListener("click", newChat);
  $("#toggle-sidebar").addEventListener("click", () => $("#conv-sidebar").classList.toggle("open"));
  $("#close-source").addEventListener("click", () => ($("#source-panel").hidden = true));
  $("#modal-close").addEventListener("click", () => ($("#modal").hidden = true));
  $("#modal").addEventListener("click", (ev) => { if (ev.target.id === "modal") $("#modal").hidden = true; });
  $("#stop").addEventListener("click", () => state.abort && state.abort.abort());
  const q = $("#question");
  q.addEventListener("keydown", (ev) => { if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); $("#ask-form").requestSubmit(); } });
  $("#ask-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = q.value.trim();
    if (!text || state.abort) return;
    q.value = "";
    ask(text);
  });
  $("#kb-create").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const kb = await api("POST", "/api/kbs", { name: $("#kb-name").value.trim(), description: $("#kb-desc").value.trim() });
      $("#kb-name").value = ""; $("#kb-desc").value = "";
      await loadKBs();
      location.hash = "#/kbs/" + enc(kb.name);
    } catch (e) { toast(e.message); }
  });
  window.addEventListener("hashchange", route);
  loadKBs().then(() => { newChat(); route(); }).catch((e) => toast(e.message));
}
init();
