// sward curate: the extraction-rule editor with live preview.
"use strict";

const $ = (id) => document.getElementById(id);
const form = $("rule");

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { "X-Sward-Curator": "1", "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

function lines(s) {
  return s.split("\n").map((l) => l.trim()).filter(Boolean);
}

function ruleFromForm() {
  const fd = new FormData(form);
  const rule = {
    domain: fd.get("domain").trim(),
    body: fd.get("body").trim(),
    exclude: lines(fd.get("exclude")),
    note: fd.get("note").trim(),
    fields: [],
  };
  for (const l of lines(fd.get("fields"))) {
    const [name, selector, attr, norms] = l.split("|").map((x) => (x || "").trim());
    rule.fields.push({ name, selector, attr, normalise: norms ? norms.split(/\s+/) : [] });
  }
  return rule;
}

function status(msg, isError) {
  const s = $("rule-status");
  s.textContent = msg;
  s.className = isError ? "error" : "";
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

async function preview() {
  const rule = ruleFromForm();
  if (!rule.domain) return;
  try {
    const results = await api("POST", "/api/rules/preview", { rule, limit: 10 });
    const box = $("rule-results");
    box.replaceChildren();
    status(`${results.length} captured page(s) of ${rule.domain}`);
    for (const p of results) {
      const d = el("div", undefined, "rule-result");
      d.append(el("div", p.url, "url"));
      if (p.error) d.append(el("div", p.error, "error"));
      const dl = document.createElement("dl");
      for (const [k, v] of Object.entries(p.result.fields || {})) dl.append(el("dt", k), el("dd", v));
      for (const k of p.result.missing || []) dl.append(el("dt", k), el("dd", "no match", "missing"));
      for (const [k, v] of Object.entries(p.result.errors || {})) dl.append(el("dt", k), el("dd", v, "missing"));
      d.append(dl);
      d.append(el("div", rule.body ? (p.result.body_matched ? "rule text:" : "body selector matched nothing") : "no body selector"));
      if (rule.body) d.append(el("pre", p.result.text));
      d.append(el("div", "pipeline text:"));
      d.append(el("pre", p.current));
      box.append(d);
    }
  } catch (e) {
    status(e.message, true);
  }
}

let timer;
form.addEventListener("input", () => {
  clearTimeout(timer);
  timer = setTimeout(preview, 400);
});
$("rule-preview").addEventListener("click", preview);
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const r = await api("POST", "/api/rules", ruleFromForm());
    status(`published ${r.domain} version ${r.rule_version}`);
    setTimeout(() => location.reload(), 800);
  } catch (err) {
    status(err.message, true);
  }
});
