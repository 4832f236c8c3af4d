// The LandShift review page: queue, chips, decisions by button or key, the product map (OpenLayers
// reading the product's COG), progress and apply. Bundled by esbuild into ../review_static/review.js.
import Map from "ol/Map.js";
import View from "ol/View.js";
import Feature from "ol/Feature.js";
import Polygon from "ol/geom/Polygon.js";
import GeoTIFF from "ol/source/GeoTIFF.js";
import VectorSource from "ol/source/Vector.js";
import TileLayer from "ol/layer/WebGLTile.js";
import VectorLayer from "ol/layer/Vector.js";
import { Stroke, Style } from "ol/style.js";

const state = { region: "", vintage: "", items: [], decisions: {}, classes: [], index: 0, raster: null, busy: false };
const $ = (id) => document.getElementById(id);
const api = (path) => `api/regions/${encodeURIComponent(state.region)}/${path}`;

async function getJson(url, options) {
  const response = await fetch(url, { credentials: "same-origin", ...options });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`${response.status}: ${body.detail || response.statusText}`);
  return body;
}

function say(text, kind = "") {
  const line = $("message");
  line.textContent = text;
  line.className = kind;
}

function className(code) {
  const found = state.classes.find((c) => c.code === code);
  return found ? `${found.name} (${code})` : code ? String(code) : "none";
}

function percent(value) {
  return value === null || value === undefined ? "n/a" : `${Math.round(value * 100)} %`;
}

function decidedCount() {
  return state.items.filter((i) => state.decisions[i.tile_id]).length;
}

function renderProgress() {
  const total = state.items.length;
  $("progress").textContent = `${decidedCount()} of ${total} reviewed · tile ${Math.min(state.index + 1, total)} of ${total}`;
  $("progress-bar").value = decidedCount();
  $("progress-bar").max = total || 1;
}

function decisionText(decision) {
  if (!decision) return "not reviewed";
  const label = decision.decision === "relabel" ? ` as ${className(decision.label)}` : "";
  return `${decision.decision}${label} by ${decision.reviewer}`;
}

async function renderTile() {
  const item = state.items[state.index];
  renderProgress();
  if (!item) {
    $("tile-id").textContent = "nothing to review";
    return;
  }
  const base = api(`${state.vintage}/tiles/${item.tile_id}`);
  $("tile-id").textContent = item.tile_id;
  $("reason").textContent = item.reason === "change" ? "reported change" : "uncertain (low confidence)";
  $("prior").textContent = className(item.prior);
  $("predicted").textContent = className(item.predicted);
  $("confidence").textContent = percent(item.confidence);
  $("decision").textContent = decisionText(state.decisions[item.tile_id]);
  document.body.dataset.tile = item.tile_id;
  for (const side of ["before", "after"]) {
    for (const composite of ["nir", "true"]) {
      const img = $(`chip-${side}-${composite}`);
      img.alt = `${side} ${composite} ${item.tile_id}`;
      img.src = `${base}/chip/${side}.png?composite=${composite}`;
    }
  }
  highlight(item);
  const shown = item.tile_id;
  try {
    const details = await getJson(base);
    if (state.items[state.index]?.tile_id !== shown) return;
    const previous = details.previous;
    $("previous").textContent = previous
      ? `${className(previous.predicted)}, ${percent(previous.confidence)} (${previous.vintage})`
      : "no earlier product";
    const water = details.water_share || {};
    $("water-before").textContent = percent(water.before);
    $("water-after").textContent = percent(water.after);
  } catch (error) {
    say(`tile details: ${error.message}`, "error");
  }
}

async function decide(decision, label = null) {
  const item = state.items[state.index];
  if (!item || state.busy) return;
  state.busy = true;
  try {
    const made = await getJson(api(`${state.vintage}/decisions`), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ tile_id: item.tile_id, decision, label }),
    });
    state.decisions[item.tile_id] = made;
    say(`${item.tile_id}: ${decisionText(made)}`, "ok");
    if (state.index < state.items.length - 1) state.index += 1;
  } catch (error) {
    say(error.message, "error");
    return;
  } finally {
    state.busy = false; // the next key may come while the next tile's details load
  }
  await renderTile();
}

function move(step) {
  const next = state.index + step;
  if (next < 0 || next >= state.items.length) return;
  state.index = next;
  renderTile();
}

async function applyReviews() {
  say("publishing the reviewed product ...");
  try {
    const result = await getJson(api(`${state.vintage}/apply`), { method: "POST" });
    const r = result.review;
    $("applied").textContent =
      `Reviewed product published: ${r.reviewed} reviewed (${r.accepted} accepted, ${r.rejected} rejected, ` +
      `${r.relabelled} relabelled), ${result.change.tiles_changed} changed tiles.`;
    say("reviewed product published", "ok");
    await loadMap();
  } catch (error) {
    say(`apply: ${error.message}`, "error");
  }
}

// -- map -----------------------------------------------------------------------------------------
let map = null;
const tileSource = new VectorSource();

function highlight(item) {
  if (!state.raster) return;
  const size = state.raster.tile_size_m;
  const [x0, y0] = [item.col * size, item.row * size];
  const ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]];
  tileSource.clear();
  tileSource.addFeature(new Feature(new Polygon([ring])));
}

function palette() {
  const colors = Array.from({ length: 256 }, () => [0, 0, 0, 0]);
  for (const c of state.classes) {
    const hex = c.color.replace("#", "");
    colors[c.code] = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16)).concat([1]);
  }
  return colors;
}

async function loadMap() {
  try {
    const response = await fetch(api(`${state.vintage}/product/landuse.tif`), { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${response.status}`);
    const blob = await response.blob();
    const source = new GeoTIFF({ sources: [{ blob }], normalize: false, interpolate: false });
    const layer = new TileLayer({ source, style: { color: ["palette", ["band", 1], palette()] } });
    const outline = new VectorLayer({
      source: tileSource,
      style: new Style({ stroke: new Stroke({ color: "#ffe600", width: 3 }) }),
    });
    if (map) map.setTarget(null);
    map = new Map({ target: "map", layers: [layer, outline], view: source.getView() });
    $("map").dataset.loaded = "true";
  } catch (error) {
    $("map").dataset.loaded = "false";
    say(`map: ${error.message}`, "error");
  }
}

// -- start ---------------------------------------------------------------------------------------
function classButtons() {
  const box = $("classes");
  box.replaceChildren();
  for (const c of state.classes) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = `${c.number} ${c.name}`;
    button.style.borderLeft = `12px solid ${c.color}`;
    button.addEventListener("click", () => decide("relabel", c.code));
    box.appendChild(button);
  }
}

function onKey(event) {
  if (event.target.tagName === "INPUT" || event.target.tagName === "SELECT" || event.ctrlKey || event.metaKey) return;
  const key = event.key;
  if (key === "a") decide("accept");
  else if (key === "r") decide("reject");
  else if (key === "j") move(1);
  else if (key === "k") move(-1);
  else if (/^[1-9]$/.test(key)) {
    const chosen = state.classes[Number(key) - 1];
    if (chosen) decide("relabel", chosen.code);
  } else return;
  event.preventDefault();
}

async function loadQueue() {
  const queue = await getJson(api(`${state.vintage}/queue`));
  state.items = queue.items;
  state.decisions = queue.decisions;
  state.classes = queue.classes;
  state.raster = queue.raster;
  const first = state.items.findIndex((i) => !state.decisions[i.tile_id]);
  state.index = first < 0 ? 0 : first;
  $("title").textContent = `Review ${state.region} ${state.vintage}`;
  $("model").textContent = `model ${queue.model.name || ""} version ${queue.model.version || ""} · reviewer ${queue.user}`;
  $("applied").textContent = queue.review
    ? `Published product already reviewed: ${queue.review.reviewed} decisions applied.`
    : "Published product not reviewed yet.";
  classButtons();
  await renderTile();
  document.body.dataset.ready = "true";
  window.focus(); // inside the Airflow UI's iframe the keys reach the page once it has the focus
  document.body.focus();
}

async function start() {
  const params = new URLSearchParams(window.location.search);
  const dagId = params.get("dag_id") || "";
  state.region = params.get("region") || (dagId.startsWith("landshift_region_") ? dagId.slice(17) : "");
  if (!state.region) {
    say("Open this page from a run of a landshift_region_<region> DAG, or add ?region=<id> to the address.");
    return;
  }
  try {
    const { vintages } = await getJson(api("vintages"));
    if (!vintages.length) {
      say(`no published product of ${state.region} yet`);
      return;
    }
    let fromRun = null;
    if (params.get("run_id")) {
      fromRun = (await getJson(api(`runs/${encodeURIComponent(params.get("run_id"))}`))).vintage;
    }
    const wanted = params.get("vintage") || fromRun;
    state.vintage = wanted && vintages.includes(wanted) ? wanted : vintages[0];
    const select = $("vintage");
    select.replaceChildren(...vintages.map((v) => new Option(v, v, v === state.vintage, v === state.vintage)));
    select.addEventListener("change", async () => {
      state.vintage = select.value;
      await loadQueue();
      await loadMap();
    });
    await loadQueue();
    await loadMap();
  } catch (error) {
    say(error.message, "error");
  }
}

document.addEventListener("keydown", onKey);
window.addEventListener("DOMContentLoaded", () => {
  $("accept").addEventListener("click", () => decide("accept"));
  $("reject").addEventListener("click", () => decide("reject"));
  $("previous-tile").addEventListener("click", () => move(-1));
  $("next-tile").addEventListener("click", () => move(1));
  $("apply").addEventListener("click", applyReviews);
  start();
});
