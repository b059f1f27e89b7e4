// sward curate: the review queue. Keyboard first; every action goes through
// the JSON API. Untrusted page content is only ever written with
// textContent or into the sandboxed iframe's srcdoc.
"use strict";

const mode = document.body.dataset.mode;
let hotkeys = JSON.parse(document.body.dataset.hotkeys || "{}");
let current = null; // the item shown
let busy = false;

const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const opts = { method, headers: { "X-Sward-Curator": "1" } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  if (res.status === 204) return null;
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

function say(msg, isError) {
  const s = $("status");
  s.textContent = msg;
  s.className = isError ? "error" : "";
}

function filterQuery() {
  const p = new URLSearchParams();
  for (const [k, v] of new FormData($("filter"))) if (v) p.set(k, v);
  if (mode === "adjudication") p.set("mode", "adjudication");
  return p;
}

function filterObject() {
  const f = {};
  for (const [k, v] of new FormData($("filter"))) {
    if (!v) continue;
    if (k === "min") f.min_score = parseFloat(v);
    else if (k === "max") f.max_score = parseFloat(v);
    else f[k] = v;
  }
  return f;
}

function fillDL(dl, obj) {
  dl.replaceChildren();
  for (const [k, v] of Object.entries(obj || {})) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v === "" ? "—" : v;
    dd.dataset.field = k;
    dl.append(dt, dd);
  }
}

function render(v) {
  current = v;
  closeForms();
  if (!v) {
    $("item").hidden = true;
    $("empty").hidden = false;
    $("count").textContent = "0 left";
    return;
  }
  $("empty").hidden = true;
  $("item").hidden = false;
  $("item").dataset.id = v.id;
  $("meta").textContent = `${v.kind} · ${v.dataset || "no dataset"} · ${v.votes} vote(s)`;
  $("url").textContent = v.url;
  fillDL($("docfields"), v.doc_fields);
  fillDL($("fields"), v.fields);
  $("text").textContent = v.text;
  const rl = $("reasons-list");
  rl.replaceChildren();
  for (const r of v.reasons || []) {
    const li = document.createElement("li");
    li.textContent = r;
    rl.append(li);
  }
  const sc = $("scores");
  sc.replaceChildren();
  for (const [k, s] of Object.entries(v.scores || {})) {
    const tr = sc.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = Number(s).toFixed(3);
  }
  const bl = $("ballot-list");
  bl.replaceChildren();
  $("ballots").hidden = !(v.ballots && v.ballots.length);
  for (const b of v.ballots || []) {
    const li = document.createElement("li");
    li.textContent = `${b.curator.slice(-8)} (weight ${b.weight.toFixed(2)}): ${b.action}` +
      (b.reason ? ` — ${b.reason}` : "") + (b.edits ? ` — edits ${Object.keys(b.edits).join(", ")}` : "");
    bl.append(li);
  }
  // The page is sanitised on the server; the iframe has an empty sandbox
  // (no scripts, no same-origin, no navigation) and inherits our CSP.
  $("preview").srcdoc = v.preview;
  $("guidelines").textContent = v.guidelines || "No guidelines for this dataset yet.";
  $("guidelines-edit").value = v.guidelines || "";
  $("count").textContent = `${v.remaining + 1} left`;
}

async function loadNext() {
  try {
    render(await api("GET", "/api/next?" + filterQuery()));
  } catch (e) {
    say(e.message, true);
  }
}

async function loadItem(id) {
  try {
    render(await api("GET", "/api/items/" + encodeURIComponent(id)));
  } catch (e) {
    say(e.message, true);
    await loadNext();
  }
}

async function decide(action, extra) {
  if (!current || busy) return;
  busy = true;
  const body = Object.assign({ item_id: current.id, action }, extra || {});
  if (mode === "adjudication") body.adjudication = true;
  try {
    await api("POST", "/api/decide", body);
    say(`${action === "skip" ? "skipped" : action + "ed"} ${current.id} (${hotkeys.undo} undoes)`);
    await loadNext();
  } catch (e) {
    say(e.message, true);
  } finally {
    busy = false;
  }
}

async function undo() {
  if (busy) return;
  busy = true;
  try {
    const r = await api("POST", "/api/undo");
    say(r.error ? `partly undone: ${r.error}` : `undone: ${r.reopened.join(", ")}`, !!r.error);
    if (r.reopened && r.reopened.length) await loadItem(r.reopened[0]);
  } catch (e) {
    say(e.message, true);
  } finally {
    busy = false;
  }
}

function closeForms() {
  $("edit").hidden = true;
  $("reject").hidden = true;
  $("text").hidden = false;
}

function openEdit() {
  if (!current) return;
  closeForms();
  const box = $("edit-fields");
  box.replaceChildren();
  const add = (key, label, value) => {
    const l = document.createElement("label");
    l.textContent = label + " ";
    const inp = document.createElement("input");
    inp.id = "edit-" + key.replace(":", "-");
    inp.dataset.key = key;
    inp.dataset.orig = value;
    inp.value = value;
    l.append(inp);
    box.append(l);
  };
  for (const [k, v] of Object.entries(current.doc_fields || {})) add(k, k, v);
  for (const [k, v] of Object.entries(current.fields || {})) add("field:" + k, k, v);
  $("edit-text").value = current.text;
  $("text").hidden = true;
  $("edit").hidden = false;
  $("edit-text").focus();
}

function saveEdit() {
  const edits = {};
  for (const inp of $("edit-fields").querySelectorAll("input")) {
    if (inp.value !== inp.dataset.orig) edits[inp.dataset.key] = inp.value;
  }
  if ($("edit-text").value !== current.text) edits.text = $("edit-text").value;
  closeForms();
  decide("accept", Object.keys(edits).length ? { edits } : {});
}

function openReject() {
  if (!current) return;
  closeForms();
  $("reject").hidden = false;
  $("reason").value = "";
  $("reason").focus();
}

function keyName(e) {
  let k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  if (e.ctrlKey) k = "ctrl+" + k;
  if (e.altKey) k = "alt+" + k;
  return k;
}

document.addEventListener("keydown", (e) => {
  const inForm = e.target.closest && e.target.closest("input, textarea, select");
  if (!$("edit").hidden) {
    if (e.key === "Enter" && e.ctrlKey) { e.preventDefault(); saveEdit(); }
    else if (e.key === "Escape") { e.preventDefault(); closeForms(); }
    return;
  }
  if (!$("reject").hidden && e.key === "Escape") { e.preventDefault(); closeForms(); return; }
  if (inForm) return;
  const action = Object.keys(hotkeys).find((a) => hotkeys[a] === keyName(e));
  if (!action) return;
  e.preventDefault();
  switch (action) {
    case "accept": decide("accept"); break;
    case "reject": case "edit": opening = action; break; // on keyup, see below
    case "skip": decide("skip"); break;
    case "undo": undo(); break;
  }
});

// A form that takes focus opens on keyup: opened on keydown, the key's own
// character could still land in the freshly focused field.
let opening = null;
document.addEventListener("keyup", (e) => {
  if (!opening) return;
  const a = opening;
  opening = null;
  e.preventDefault();
  if (a === "reject") openReject();
  else openEdit();
});

$("edit").addEventListener("submit", (e) => { e.preventDefault(); saveEdit(); });
$("edit-cancel").addEventListener("click", closeForms);
$("reject").addEventListener("submit", (e) => {
  e.preventDefault();
  const reason = $("reason").value.trim();
  if (!reason) return;
  closeForms();
  decide("reject", { reason });
});
$("filter").addEventListener("submit", (e) => { e.preventDefault(); loadNext(); });

async function bulk(action) {
  let reason = "";
  if (action === "reject") {
    reason = window.prompt("Reason for rejecting every filtered item?") || "";
    if (!reason) return;
  }
  let count;
  try {
    count = (await api("GET", "/api/queue?limit=1&" + filterQuery())).count;
  } catch (e) { say(e.message, true); return; }
  if (!window.confirm(`${action} ${count} item(s) matching the filter? (gold items are left out; ${hotkeys.undo} undoes)`)) return;
  try {
    const r = await api("POST", "/api/bulk", { filter: filterObject(), action, reason });
    say(`${action}ed ${r.decided} item(s)` + (r.error ? `; stopped: ${r.error}` : ""), !!r.error);
    await loadNext();
  } catch (e) { say(e.message, true); }
}
if ($("bulk-accept")) {
  $("bulk-accept").addEventListener("click", () => bulk("accept"));
  $("bulk-reject").addEventListener("click", () => bulk("reject"));
}

$("guidelines-save").addEventListener("click", async () => {
  if (!current) return;
  try {
    await api("PUT", "/api/guidelines/" + encodeURIComponent(current.dataset), { text: $("guidelines-edit").value });
    $("guidelines").textContent = $("guidelines-edit").value;
    say("guidelines saved");
  } catch (e) { say(e.message, true); }
});

function renderKeys() {
  const t = $("keys");
  t.replaceChildren();
  const form = $("keys-form");
  form.replaceChildren();
  for (const [a, k] of Object.entries(hotkeys)) {
    const tr = t.insertRow();
    const kbd = document.createElement("kbd");
    kbd.textContent = k;
    tr.insertCell().append(kbd);
    tr.insertCell().textContent = a;
    const l = document.createElement("label");
    l.textContent = a + " ";
    const inp = document.createElement("input");
    inp.name = a;
    inp.value = k;
    inp.size = 8;
    l.append(inp);
    form.append(l);
  }
  const b = document.createElement("button");
  b.textContent = "Save keys";
  form.append(b);
}
$("keys-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const change = {};
  for (const [k, v] of new FormData($("keys-form"))) change[k] = v;
  try {
    hotkeys = await api("PUT", "/api/hotkeys", change);
    renderKeys();
    say("keys saved");
  } catch (err) { say(err.message, true); }
});

renderKeys();
loadNext();
