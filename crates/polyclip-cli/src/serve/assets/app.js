// polyclip's search page: text search (?q= in the address runs it on load), picture search, zero-shot labels
// and captions, all through the JSON API.
"use strict";

const $ = (id) => document.getElementById(id);
let dropped = null; // the File dropped or chosen

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.className = isError ? "error" : "muted";
}

async function api(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function showResults(results, what) {
  const grid = $("results");
  grid.replaceChildren();
  for (const hit of results) {
    const figure = document.createElement("figure");
    figure.className = "result";
    figure.dataset.id = hit.id;
    const img = document.createElement("img");
    img.src = hit.url;
    img.alt = hit.caption || hit.name;
    img.loading = "lazy";
    const caption = document.createElement("figcaption");
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = hit.score.toFixed(3);
    caption.append(score, " ", hit.caption || hit.name);
    figure.append(img, caption);
    grid.append(figure);
  }
  setStatus(`${results.length} pictures for ${what}`);
  grid.dataset.state = "done";
}

async function searchText(q) {
  $("results").dataset.state = "loading";
  setStatus("searching…");
  try {
    const body = await api(`/api/search?k=24&q=${encodeURIComponent(q)}`);
    showResults(body.results, `“${body.query}”`);
  } catch (e) {
    $("results").dataset.state = "error";
    setStatus(e.message, true);
  }
}

function pictureForm() {
  const form = new FormData();
  form.append("image", dropped, dropped.name || "picture");
  return form;
}

async function searchPicture() {
  setStatus("searching with the picture…");
  try {
    const body = await api("/api/search/image?k=24", { method: "POST", body: pictureForm() });
    showResults(body.results, "the dropped picture");
  } catch (e) {
    setStatus(e.message, true);
  }
}

async function classify() {
  if (!dropped) return;
  const form = pictureForm();
  form.append("labels", $("labels").value);
  const list = $("label-results");
  list.replaceChildren();
  try {
    const body = await api("/api/classify", { method: "POST", body: form });
    for (const row of body.labels) {
      const item = document.createElement("li");
      item.textContent = `${row.label} — ${(100 * row.probability).toFixed(1)} %`;
      list.append(item);
    }
  } catch (e) {
    setStatus(e.message, true);
  }
}

async function caption() {
  if (!dropped) return;
  const form = pictureForm();
  form.append("lang", $("lang").value);
  try {
    const body = await api("/api/caption", { method: "POST", body: form });
    $("caption-result").textContent = body.caption;
  } catch (e) {
    setStatus(e.message, true);
  }
}

function takePicture(file) {
  if (!file) return;
  dropped = file;
  const img = $("dropped");
  img.src = URL.createObjectURL(file);
  img.hidden = false;
  $("classify").disabled = false;
  $("caption").disabled = false;
  searchPicture();
}

async function start() {
  try {
    const info = await api("/api/info");
    $("info").textContent =
      `${info.index.pictures} pictures · model ${info.model} · ${info.index.search} search · ${info.backend}`;
    $("q").placeholder = info.placeholder;
    $("caption-box").hidden = !info.captioner;
    if (info.runs) {
      const link = document.createElement("a");
      link.href = "/runs";
      link.textContent = "Runs";
      $("nav").append(link);
    }
  } catch (e) {
    setStatus(e.message, true);
  }
  const q = new URLSearchParams(location.search).get("q");
  if (q) {
    $("q").value = q;
    await searchText(q);
  }
}

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = $("q").value.trim();
  if (!q) return;
  history.pushState(null, "", `/?q=${encodeURIComponent(q)}`);
  searchText(q);
});
$("file").addEventListener("change", (event) => takePicture(event.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  takePicture(event.dataTransfer.files[0]);
});
$("classify").addEventListener("click", classify);
$("caption").addEventListener("click", caption);
window.addEventListener("popstate", () => start());
start();
