// The operations picture: one unit's own feed (CONTRACT.md section 11) on a map, live.
//
// Plain JavaScript, no library. Everything comes from this gateway: the page, the base map
// (countries.json) and the API. The token is kept in session storage and sent as a bearer
// header, never in a URL: EventSource cannot send headers, so the event stream is read with
// fetch() and parsed here, and Last-Event-ID is sent on every reconnect, as a browser would.
// Text from reports is only ever set as textContent, never as HTML.
"use strict";

const TOKEN_KEY = "imx.gateway.token";
const HOUR = 3600e3;
const DAY = 24 * HOUR;
const DEADLINES = { URGENT_8H: 8 * HOUR, URGENT_3D: 72 * HOUR, STANDARD_7D: 168 * HOUR };
const TYPE_COLOURS = {
  UnauthorisedBorderCrossing: "#d84315",
  MigrantsDetectedInland: "#f9a825",
  MigrantSmuggling: "#6a1b9a",
  TraffickingInHumanBeings: "#ad1457",
  DocumentFraud: "#00838f",
  VehicleSighting: "#1565c0",
  CrisisSituation: "#c62828",
};
const NOT_ON_MAP = new Set(["RequestForInformation", "RfiResponse"]);
const LEVELS = ["LOCAL", "REGIONAL", "NATIONAL", "INTERNATIONAL", "correlation"];
const LEVEL_COLOURS = ["#5c6bc0", "#26a69a", "#ef6c00", "#8d6e63", "#9e9e9e"];
const MAP_WIDTH = 1000;
const MAX_LIST = 60;
const MAX_KEPT = 20000;
const HISTORY_PAGES = 50;
const RETRY_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";

const state = {
  token: null,
  whoami: null,
  registry: null,
  base: null,
  project: null,
  deliveries: [], // newest last
  seen: new Set(),
  incidents: new Map(), // incident_id -> {id, deliveries: [], ...}
  rfis: new Map(),
  correlations: new Map(),
  lastId: null,
  abort: null,
  selected: null,
  operator: false,
  flow: null,
  dirty: false,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

// ---------------------------------------------------------------- the API

class HttpError extends Error {
  constructor(status, problem) {
    super((problem && problem.detail) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers, cache: "no-store" });
  if (!response.ok) {
    let problem = null;
    try { problem = await response.json(); } catch (_) { /* not a problem body */ }
    throw new HttpError(response.status, problem);
  }
  return response.json();
}

// ---------------------------------------------------------------- sign in

function setStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.className = `status ${kind || ""}`;
}

async function signIn(token) {
  state.token = token;
  const whoami = await api("/v1/whoami");
  sessionStorage.setItem(TOKEN_KEY, token);
  state.whoami = whoami;
  $("unit").textContent = `${whoami.name} (${whoami.unit})`;
  $("login").hidden = true;
  $("picture").hidden = false;
  $("logout").hidden = false;
  setStatus("loading…", "");
  const [registry, base] = await Promise.all([
    api("/v1/registry"),
    fetch("/static/countries.json").then((r) => r.json()),
  ]);
  state.registry = registry;
  state.base = base;
  const own = registry.units.find((u) => u.id === whoami.unit);
  state.operator = Boolean(own && own.line === "OPERATIONS");
  drawBaseMap();
  drawLegend();
  await loadHistory();
  render();
  stream();
  if (state.operator) pollFlow();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  if (state.abort) state.abort.abort();
  window.location.reload();
}

// ---------------------------------------------------------------- the feed

async function loadHistory() {
  for (let page = 0; page < HISTORY_PAGES; page++) {
    const query = new URLSearchParams({ limit: "1000" });
    if (state.lastId) query.set("after", state.lastId);
    const records = await api(`/v1/feed/records?${query}`);
    for (const record of records) take(record.id, record.event, record.data);
    if (records.length < 1000) return;
  }
}

async function stream() {
  while (state.token) {
    const abort = new AbortController();
    state.abort = abort;
    const headers = { Authorization: `Bearer ${state.token}` };
    if (state.lastId) headers["Last-Event-ID"] = state.lastId;
    const url = state.lastId ? "/v1/feed" : "/v1/feed?from=beginning";
    try {
      const response = await fetch(url, { headers, signal: abort.signal, cache: "no-store" });
      if (response.status === 409) {
        state.lastId = null; // the records are gone: start again from what the feed holds
        continue;
      }
      if (response.status === 401) {
        setStatus("the token is no longer valid", "down");
        return;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      setStatus("live", "live");
      await readEvents(response.body);
      setStatus("reconnecting…", "down");
    } catch (error) {
      if (abort.signal.aborted) return;
      setStatus(`reconnecting… (${error.message})`, "down");
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

async function readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let newline;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      if (line === "") {
        if (event.data.length) take(event.id || "", event.event || "message", JSON.parse(event.data.join("\n")));
        event = { data: [] };
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (name === "data") event.data.push(value);
      else if (name === "event" || name === "id") event[name] = value;
    }
  }
}

function take(id, kind, data) {
  if (id) state.lastId = id;
  if (kind !== "delivery" || !data || state.seen.has(data.delivery_id)) return;
  state.seen.add(data.delivery_id);
  state.deliveries.push(data);
  if (state.deliveries.length > MAX_KEPT) state.deliveries.splice(0, state.deliveries.length - MAX_KEPT);
  if (data.kind === "correlation" && data.correlation) {
    state.correlations.set(data.correlation.correlation_id, data);
  } else if (data.report) {
    const report = data.report;
    if (report.type === "RequestForInformation") state.rfis.set(report.event_id, data);
    if (!NOT_ON_MAP.has(report.type) && report.location) {
      const key = data.incident_id || report.event_id;
      let incident = state.incidents.get(key);
      if (!incident) {
        incident = { id: key, deliveries: [] };
        state.incidents.set(key, incident);
      }
      incident.deliveries.push(data);
    }
  }
  schedule();
}

function schedule() {
  if (state.dirty) return;
  state.dirty = true;
  requestAnimationFrame(() => { state.dirty = false; render(); });
}

// ---------------------------------------------------------------- the map

function drawBaseMap() {
  const [west, south, east, north] = state.base.view;
  const k = Math.cos(((south + north) / 2) * Math.PI / 180);
  const scale = MAP_WIDTH / ((east - west) * k);
  const height = Math.round((north - south) * scale);
  state.project = (lon, lat) => [(lon - west) * k * scale, (north - lat) * scale];
  const inView = (lon, lat) => lon >= west && lon <= east && lat >= south && lat <= north;
  state.inView = inView;
  const map = $("map");
  map.replaceChildren();
  map.setAttribute("viewBox", `0 0 ${MAP_WIDTH} ${height}`);
  const path = (line, close) =>
    line.map(([lon, lat], i) => {
      const [x, y] = state.project(lon, lat);
      return `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
    }).join("") + (close ? "Z" : "");
  const land = svg("g", { class: "land" });
  for (const country of state.base.countries) {
    const d = country.rings.map((ring) => path(ring, true)).join("");
    const shape = svg("path", { d, class: `country ${country.role}`, "fill-rule": "evenodd" });
    shape.append(svgTitle(country.name));
    land.append(shape);
  }
  map.append(land);
  for (const line of state.base.administrative) {
    map.append(svg("path", { d: path(line, false), class: "admin-line" }));
  }
  const sections = svg("g", { class: "sections" });
  for (const section of state.registry.sections) {
    const lines = (section.neighbour && state.base.borders[section.neighbour]) || [];
    for (const line of lines) {
      const shape = svg("path", { d: path(line, false), class: `section-line risk-${section.impact}` });
      shape.append(svgTitle(`Border section ${section.id}: ${section.impact}`));
      sections.append(shape);
    }
    if (section.lat !== null) {
      const [x, y] = state.project(section.lon, section.lat);
      const label = svg("text", { x: x + 12, y: y - 12, class: `section-label risk-${section.impact}`, fill: "currentColor" });
      label.textContent = `${section.id} ${section.impact}`;
      sections.append(label);
    }
  }
  map.append(sections);
  const units = svg("g", { class: "units" });
  const offMap = [];
  for (const unit of state.registry.units) {
    if (!inView(unit.lon, unit.lat)) { offMap.push(unit); continue; }
    const [x, y] = state.project(unit.lon, unit.lat);
    const own = unit.id === state.whoami.unit ? " own" : "";
    const dot = svg("circle", { cx: x, cy: y, r: unit.level === "LOCAL" ? 4 : 6, class: `unit-dot ${unit.level}${own}` });
    dot.append(svgTitle(`${unit.name} (${unit.id})`));
    units.append(dot);
  }
  offMap.forEach((unit, i) => {
    const text = svg("text", { x: 10, y: 22 + i * 18, class: "offmap" });
    text.textContent = `off the map: ${unit.name} (${unit.id})`;
    units.append(text);
  });
  map.append(units);
  state.markers = svg("g", { class: "markers" });
  map.append(state.markers);
}

function svgTitle(text) {
  const title = svg("title");
  title.textContent = text;
  return title;
}

function drawLegend() {
  const legend = $("legend");
  legend.replaceChildren();
  for (const [type, colour] of Object.entries(TYPE_COLOURS)) {
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = colour;
    legend.append(el("li", {}, swatch, type));
  }
  for (const impact of ["LOW", "MEDIUM", "HIGH", "CRITICAL"]) {
    legend.append(el("li", { class: `risk-${impact}`, text: `━ section ${impact}` }));
  }
  legend.append(el("li", { text: "size: persons" }));
}

function persons(report) {
  for (const field of ["persons", "smuggled_persons", "victims", "persons_on_board"]) {
    if (typeof report[field] === "number") return report[field];
  }
  return 0;
}

function occurred(delivery) {
  return Date.parse(delivery.timing.occurred_at || delivery.timing.delivered_at);
}

function renderMarkers(now) {
  const focusedId = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.incident : undefined;
  const recent = [...state.incidents.values()]
    .filter((inc) => inc.deliveries.some((d) => now - occurred(d) <= DAY))
    .sort((a, b) => summary(b).persons - summary(a).persons); // small markers on top
  const wanted = new Set(recent.map((inc) => inc.id));
  for (const node of [...state.markers.children]) {
    if (!wanted.has(node.dataset.incident)) node.remove();
  }
  const existing = new Map([...state.markers.children].map((n) => [n.dataset.incident, n]));
  for (const incident of recent) {
    const s = summary(incident);
    const [x, y] = state.project(s.lon, s.lat);
    let node = existing.get(incident.id);
    if (!node) {
      node = svg("g", { class: "marker", tabindex: 0, role: "button" });
      node.dataset.incident = incident.id;
      node.append(svg("circle"), svgTitle(""));
      node.addEventListener("click", () => select(incident.id));
      node.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(incident.id); }
      });
    }
    const label = `${s.type}, ${s.persons} persons, ${s.reports} report${s.reports === 1 ? "" : "s"}` +
      (s.place ? `, ${s.place}` : "");
    node.setAttribute("aria-label", label);
    node.lastChild.textContent = label;
    node.classList.toggle("selected", state.selected === incident.id);
    const circle = node.firstChild;
    circle.setAttribute("cx", x.toFixed(1));
    circle.setAttribute("cy", y.toFixed(1));
    circle.setAttribute("r", (5 + 3 * Math.sqrt(s.persons)).toFixed(1));
    circle.setAttribute("fill", TYPE_COLOURS[s.type] || "#607d8b");
    state.markers.append(node); // keeps the order: big first, small on top
  }
  if (focusedId) {
    const again = [...state.markers.children].find((n) => n.dataset.incident === focusedId);
    if (again && document.activeElement !== again) again.focus();
  }
}

function summary(incident) {
  const first = incident.deliveries[0].report;
  const reports = new Set(incident.deliveries.map((d) => d.report.event_id));
  return {
    type: first.type,
    lat: first.location.lat,
    lon: first.location.lon,
    place: first.location.place,
    persons: Math.max(...incident.deliveries.map((d) => persons(d.report))),
    reports: reports.size,
  };
}

// ---------------------------------------------------------------- details of an incident

function select(incidentId) {
  state.selected = incidentId;
  const incident = state.incidents.get(incidentId);
  const body = $("details-body");
  body.replaceChildren();
  for (const delivery of incident.deliveries) {
    const report = delivery.report;
    body.append(el("h3", { text: `${report.type} from ${unitName(report.reporting_unit)}` }));
    const list = el("dl");
    const row = (name, value) => list.append(el("dt", { text: name }), el("dd", { text: value }));
    row("rule", delivery.rules.join(", "));
    row("handling", report.handling || "H0");
    row("occurred", when(delivery.timing.occurred_at));
    if (delivery.duplicate_of) row("matched", delivery.duplicate_of);
    if (delivery.enrichment) row("section", `${delivery.enrichment.border_section} ${delivery.enrichment.section_impact || ""}`);
    for (const [name, value] of flatten(report)) row(name, value);
    body.append(list);
  }
  $("details").hidden = false;
  schedule();
}

// The report's fields exactly as delivered (minimised where the contract says), one per row.
function flatten(value, prefix = "") {
  if (value === null || value === undefined) return [];
  if (Array.isArray(value)) {
    if (!value.length) return [];
    if (value.every((v) => typeof v !== "object" || v === null)) return [[prefix, value.join(", ")]];
    return value.flatMap((v, i) => flatten(v, `${prefix}[${i}]`));
  }
  if (typeof value === "object") {
    return Object.entries(value)
      .filter(([key]) => !(prefix === "" && ["type", "handling"].includes(key)))
      .flatMap(([key, v]) => flatten(v, prefix ? `${prefix}.${key}` : key));
  }
  return [[prefix, String(value)]];
}

// ---------------------------------------------------------------- lists

function unitName(id) {
  const unit = state.registry && state.registry.units.find((u) => u.id === id);
  return unit ? unit.name : id;
}

function when(timestamp) {
  if (!timestamp) return "";
  return new Date(timestamp).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

function renderDeliveries() {
  const list = $("deliveries");
  const latest = state.deliveries.slice(-MAX_LIST).reverse();
  $("delivery-count").textContent = `(${state.deliveries.length} in all)`;
  list.replaceChildren(...latest.map((delivery) => {
    const rules = delivery.rules.map((rule) => el("span", { class: "rule", text: rule }));
    let text;
    if (delivery.kind === "correlation") {
      text = `correlation: ${delivery.correlation.entity_kind}, ${delivery.correlation.event_ids.length} reports`;
    } else {
      text = `${delivery.report.type} from ${unitName(delivery.report.reporting_unit)}`;
    }
    const item = el("li", { "data-delivery": delivery.delivery_id });
    const line = el("span", {}, el("span", { class: "when", text: when(delivery.timing.delivered_at) }), " ", text, ...rules);
    const incident = delivery.report && state.incidents.get(delivery.incident_id || delivery.report.event_id);
    if (incident) {
      const button = el("button", { type: "button", "aria-label": `${text}: show on the map` }, line);
      button.addEventListener("click", () => select(incident.id));
      item.append(button);
    } else {
      item.append(line);
    }
    return item;
  }));
  if (!latest.length) list.append(el("li", { class: "empty", text: "no deliveries yet" }));
}

function countdown(ms) {
  const minutes = Math.floor(Math.abs(ms) / 60e3);
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  return (d ? `${d}d ` : "") + `${h}h ${String(m).padStart(2, "0")}m`;
}

function renderRfis(now) {
  const list = $("rfis");
  const rows = [...state.rfis.values()].map((delivery) => {
    const report = delivery.report;
    const sent = Date.parse(delivery.timing.reported_at || report.reported_at || report.occurred_at);
    return { delivery, report, deadline: sent + (DEADLINES[report.urgency] || DEADLINES.STANDARD_7D) };
  }).sort((a, b) => a.deadline - b.deadline);
  list.replaceChildren(...rows.map(({ report, deadline }) => {
    const left = deadline - now;
    const overdue = left < 0;
    return el("li", { class: overdue ? "overdue" : "", "data-rfi": report.event_id },
      el("span", { class: "deadline", text: overdue ? `OVERDUE by ${countdown(left)}` : `due in ${countdown(left)}` }),
      ` · ${report.urgency} · from ${unitName(report.reporting_unit)}`,
      el("br"),
      el("span", { text: report.question || "" }),
      el("br"),
      el("span", { class: "when", text: `deadline ${when(new Date(deadline).toISOString())}` }));
  }));
  if (!rows.length) list.append(el("li", { class: "empty", text: "no requests addressed to this unit" }));
}

function renderCorrelations() {
  const list = $("correlations");
  const rows = [...state.correlations.values()].reverse();
  list.replaceChildren(...rows.slice(0, MAX_LIST).map((delivery) => {
    const c = delivery.correlation;
    return el("li", { "data-correlation": c.correlation_id },
      el("strong", { text: c.entity_kind }), ` ${c.entity_key} · `,
      `${c.event_ids.length} linked reports · units: ${c.units.map(unitName).join(", ")}`,
      el("br"),
      el("span", { class: "when", text: c.event_ids.map((id) => id.slice(0, 8)).join(" → ") }));
  }));
  if (!rows.length) list.append(el("li", { class: "empty", text: "no correlations" }));
}

// ---------------------------------------------------------------- flow

// Deliveries to this unit in the last hour, per 5 minutes, by the level of the reporting unit.
function renderFlow(now) {
  const chart = $("flow");
  const width = 400, height = 120, bins = 12, span = HOUR / bins;
  const counts = Array.from({ length: bins }, () => LEVELS.map(() => 0));
  for (let i = state.deliveries.length - 1; i >= 0; i--) {
    const delivery = state.deliveries[i];
    const age = now - Date.parse(delivery.timing.delivered_at);
    if (age > HOUR) continue;
    const bin = Math.min(bins - 1, Math.max(0, bins - 1 - Math.floor(age / span)));
    const level = delivery.kind === "correlation" ? "correlation" : (delivery.enrichment && delivery.enrichment.unit_level) || "LOCAL";
    counts[bin][Math.max(0, LEVELS.indexOf(level))] += 1;
  }
  const top = Math.max(1, ...counts.map((c) => c.reduce((a, b) => a + b, 0)));
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  chart.replaceChildren();
  const barWidth = (width - 30) / bins;
  counts.forEach((levels, bin) => {
    let y = height - 14;
    levels.forEach((count, i) => {
      if (!count) return;
      const h = (count / top) * (height - 30);
      y -= h;
      const rect = svg("rect", { x: 30 + bin * barWidth + 1, y, width: barWidth - 2, height: h, fill: LEVEL_COLOURS[i] });
      rect.append(svgTitle(`${LEVELS[i]}: ${count}`));
      chart.append(rect);
    });
  });
  const axis = (x, y, text, anchor = "start") => {
    const t = svg("text", { x, y, "text-anchor": anchor });
    t.textContent = text;
    chart.append(t);
  };
  axis(0, 12, String(top));
  axis(0, height - 14, "0");
  axis(30, height - 2, "−60 min");
  axis(width, height - 2, "now", "end");
  const legend = $("flow-legend");
  if (!legend.children.length) {
    LEVELS.forEach((level, i) => {
      const swatch = el("span", { class: "swatch" });
      swatch.style.background = LEVEL_COLOURS[i];
      legend.append(el("li", {}, swatch, level === "correlation" ? "correlation" : `from ${level}`));
    });
  }
  const operators = $("operators");
  if (state.flow && state.flow.configured) {
    const levels = Object.entries(state.flow.deliveries_by_level).map(([k, v]) => `${k} ${v}`).join(", ");
    const dlq = state.flow.dlq_total;
    operators.textContent = `For operators — DLQ: ${dlq} record${dlq === 1 ? "" : "s"}` +
      (levels ? `; exchange deliveries by recipient level: ${levels}` : "");
    operators.hidden = false;
  } else {
    operators.hidden = true;
  }
}

async function pollFlow() {
  while (state.token) {
    try { state.flow = await api("/v1/flow"); } catch (_) { state.flow = null; }
    schedule();
    await new Promise((resolve) => setTimeout(resolve, 10e3));
  }
}

// ---------------------------------------------------------------- render

function render() {
  if (!state.project) return;
  const now = Date.now();
  renderMarkers(now);
  renderDeliveries();
  renderRfis(now);
  renderCorrelations();
  renderFlow(now);
}

function start() {
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    $("token").value = "";
    $("login-error").textContent = "";
    try {
      await signIn(token);
    } catch (error) {
      state.token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      $("login").hidden = false;
      $("picture").hidden = true;
      $("logout").hidden = true;
      $("login-error").textContent = error.status === 401 ? "That token is unknown or revoked." : `Cannot open: ${error.message}`;
    }
  });
  $("logout").addEventListener("click", signOut);
  $("close-details").addEventListener("click", () => {
    state.selected = null;
    $("details").hidden = true;
    schedule();
  });
  setInterval(() => { if (state.project) { renderRfis(Date.now()); renderFlow(Date.now()); } }, 1000);
  setInterval(schedule, 60e3); // incidents age out of the 24 hours
  const kept = sessionStorage.getItem(TOKEN_KEY);
  if (kept) {
    signIn(kept).catch(() => { sessionStorage.removeItem(TOKEN_KEY); window.location.reload(); });
  }
}

start();
