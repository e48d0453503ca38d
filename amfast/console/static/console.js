// amfast console: a small front end without dependencies or a build step.
// Every URL is relative to the console's mount point; every value from the server goes into
// the page as text (never as HTML).
"use strict";

const PAGE_HEADERS = { "X-Requested-With": "amfast-console", Accept: "application/json" };
const state = { overview: null, page: null, timer: null, seconds: 300, busy: false,
                again: null };

// ------------------------------------------------------------------ helpers

function el(tag, attrs, ...children) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace the children of ``node`` (arrays flattened; null, undefined and false skipped). */
function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined &&
                                                        c !== false));
}

async function api(path, options) {
  const response = await fetch(path, Object.assign({ credentials: "same-origin",
                                                     headers: PAGE_HEADERS }, options || {}));
  if (response.status === 401) {
    window.location.reload(); // the login page
    throw new Error("not logged in");
  }
  const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function post(path, body) {
  return api(path, { method: "POST", body: JSON.stringify(body),
                     headers: Object.assign({ "Content-Type": "application/json" },
                                            PAGE_HEADERS) });
}

function status(text, bad) {
  const footer = document.getElementById("status");
  footer.textContent = text;
  footer.className = bad ? "status bad" : "status";
}

function ago(ms, now) {
  if (!ms) return "never";
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return `${(seconds / 3600).toFixed(1)} h ago`;
}

function number(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString("en");
}

function table(headers, rows, empty) {
  if (!rows.length) return el("p", { class: "empty", text: empty });
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map(([text, cls]) => el("th", { class: cls }, text)))),
    el("tbody", {}, rows));
}

// ------------------------------------------------------------------ pages

const pages = {
  overview: { title: "Overview", every: 1000, render: overview },
  services: { title: "Services", every: 0, render: services },
  channels: { title: "Channels", every: 2000, render: channels },
  connections: { title: "Connections", every: 2000, render: connections },
  destinations: { title: "Destinations", every: 2000, render: destinations },
  faults: { title: "Faults", every: 2000, render: faults },
};

const CHARTS = [
  ["messages", "Messages per second", ["published", "delivered"]],
  ["requests", "Requests and faults per second", ["requests", "faults"]],
  ["held", "Held polls and open streams", ["held_polls", "open_streams"]],
];
const LABELS = { published: "published", delivered: "delivered", requests: "requests",
                 faults: "faults", held_polls: "held polls", open_streams: "open streams" };

async function overview(main, first) {
  const data = await api(`api/charts?seconds=${state.seconds}`);
  if (first) {
    const windows = el("select", { id: "window", onchange: (e) => {
      state.seconds = Number(e.target.value);
      refresh();
    } }, [60, 300, 600].filter((s) => s <= state.overview.history + 1).map((s) =>
      el("option", { value: Math.min(s, state.overview.history), selected: s === state.seconds },
         `last ${s / 60} min`)));
    fill(main,
      el("div", { class: "cards", id: "cards" }),
      el("h2", {}, "Traffic ", windows),
      el("div", { class: "charts" }, CHARTS.map(([id, title, series]) => chartFrame(id, title,
                                                                                   series))));
  }
  const cards = document.getElementById("cards");
  const totals = data.totals;
  fill(cards, [
    ["requests", "requests"], ["faults", "faults"], ["published", "messages published"],
    ["delivered", "messages delivered"], ["held_polls", "held polls now"],
    ["open_streams", "open streams now"],
  ].map(([key, label]) => el("div", { class: "card", "data-total": key },
                             el("div", { class: "value" }, number(totals[key])),
                             el("div", { class: "label" }, label))));
  for (const [id, , series] of CHARTS) drawChart(id, series, data);
}

function chartFrame(id, title, series) {
  return el("figure", { class: "chart", id: `chart-${id}` },
    el("figcaption", {}, el("strong", {}, title),
       el("span", {}, series.map((name) => el("span", { class: "legend", "data-series": name },
                                              el("i", { class: `s-${name}` }), LABELS[name],
                                              el("b", { class: "last" }, "0"))))),
    el("div", { class: "axis" }, el("span", { class: "max" }, ""), el("span", {}, "")),
    el("svg:svg", { viewBox: "0 0 600 150", preserveAspectRatio: "none" }),
    el("div", { class: "axis" }, el("span", { class: "from" }, ""), el("span", {}, "now")));
}

function drawChart(id, series, data) {
  const figure = document.getElementById(`chart-${id}`);
  if (!figure) return;
  const values = series.map((name) => data[name]);
  const top = Math.max(1, ...values.flat());
  const max = niceMax(top);
  const svg = figure.querySelector("svg");
  const width = 600, height = 150, count = data.seconds;
  const children = [0.25, 0.5, 0.75].map((f) => el("svg:line", {
    class: "grid", x1: 0, x2: width, y1: height * f, y2: height * f,
    "vector-effect": "non-scaling-stroke" }));
  series.forEach((name, i) => {
    const points = values[i].map((v, x) =>
      `${(x * width / Math.max(1, count - 1)).toFixed(1)},${(height - v * height / max).toFixed(1)}`);
    children.push(el("svg:polyline", { class: `s-${name}`, points: points.join(" "),
                                       "vector-effect": "non-scaling-stroke" }));
    const legend = figure.querySelector(`.legend[data-series="${name}"]`);
    const sum = values[i].reduce((a, b) => a + b, 0);
    legend.setAttribute("data-sum", sum);
    legend.setAttribute("data-last", values[i][values[i].length - 1] || 0);
    legend.querySelector(".last").textContent = number(values[i][values[i].length - 1] || 0);
  });
  fill(svg, children);
  figure.querySelector(".max").textContent = number(max);
  figure.querySelector(".from").textContent = `−${Math.round(count / 60 * 10) / 10} min`;
}

function niceMax(value) {
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return value;
}

async function services(main) {
  const [list, chans] = await Promise.all([api("api/services"), api("api/channels")]);
  const writable = !state.overview.read_only;
  const rows = [];
  for (const service of list) {
    rows.push(el("tr", { class: "sub" }, el("td", { colspan: 4 },
      el("strong", {}, service.prefix ? service.name : "(default service: called by name)"))));
    for (const target of service.targets) {
      const name = service.prefix + target.name;
      rows.push(el("tr", { "data-target": name },
        el("td", {}, el("code", {}, name), target.secure ? el("span", { class: "tag secure" },
                                                                 "secure") : null,
           target.coroutine ? el("span", { class: "tag" }, "async") : null),
        el("td", {}, el("code", {}, `(${target.arguments.join(", ")})`)),
        el("td", { class: "doc" }, target.doc.split("\n\n")[0]),
        el("td", {}, el("button", { onclick: () => choose(name, target) }, "Try"))));
    }
  }
  const browsable = chans.filter((c) => c.browsable);
  const form = el("form", { class: "panel browser", id: "browser", onsubmit: call },
    el("h3", {}, "Service browser"),
    el("p", { class: "muted" }, "Calls go through the channel as AMF3 NetConnection calls, " +
       "like a client's: the answer is the decoded reply or fault."),
    el("label", {}, "Channel"),
    el("select", { name: "channel" }, browsable.map((c) => el("option", { value: c.name },
                                                              `${c.name} (${c.kind})`))),
    el("label", {}, "Target"),
    el("input", { name: "target", placeholder: "Service.method", required: true }),
    el("label", {}, "Arguments (a JSON array)"),
    el("textarea", { name: "args", spellcheck: "false" }, "[]"),
    el("div", { class: "row" },
       el("div", {}, el("label", {}, "User (secure targets)"), el("input", { name: "user",
                                                                  autocomplete: "off" })),
       el("div", {}, el("label", {}, "Password"), el("input", { name: "password",
                                                                  type: "password",
                                                                  autocomplete: "off" }))),
    el("div", { class: "actions" },
       el("button", { class: "primary", type: "submit", disabled: !writable }, "Call"),
       writable ? null : el("span", { class: "muted" },
                            "Read-only console: calls are off (read_only=False enables them).")),
    el("div", { class: "outcome", id: "outcome" }));
  fill(main, el("div", { class: "layout" },
    el("div", {}, table([["Target"], ["Arguments"], ["Description"], [""]], rows,
                        "No services are mapped.")),
    form));
}

function choose(name, target) {
  const form = document.getElementById("browser");
  form.target.value = name;
  form.args.value = JSON.stringify(target.arguments.filter((a) => !a.startsWith("*"))
    .map(() => null));
  form.args.focus();
}

async function call(event) {
  event.preventDefault();
  const form = event.target;
  const outcome = document.getElementById("outcome");
  let args;
  try {
    args = JSON.parse(form.args.value || "[]");
  } catch (e) {
    outcome.className = "outcome fault";
    fill(outcome, el("div", { class: "line" }, `The arguments are not JSON: ${e.message}`));
    return;
  }
  outcome.className = "outcome";
  fill(outcome, el("div", { class: "muted" }, "Calling…"));
  try {
    const shown = await post("api/call", { channel: form.channel.value, target: form.target.value,
                                           args: args, user: form.user.value,
                                           password: form.password.value });
    const size = `${shown.ms} ms, ${number(shown.request_bytes)} bytes sent` +
      (shown.reply_bytes ? `, ${number(shown.reply_bytes)} received` : "");
    if (shown.ok) {
      outcome.className = "outcome ok";
      fill(outcome, el("div", { class: "line" }, `Result (${size})`),
                              el("pre", { id: "result" }, JSON.stringify(shown.result, null, 2)));
    } else {
      outcome.className = "outcome fault";
      fill(outcome,
        el("div", { class: "line" }, shown.fault ? `Fault ${shown.fault.text}` : shown.error),
        el("div", { class: "muted" }, size),
        shown.fault ? el("pre", { id: "result" }, JSON.stringify(shown.fault.body, null, 2)) : null);
    }
  } catch (e) {
    outcome.className = "outcome fault";
    fill(outcome, el("div", { class: "line" }, e.message));
  }
}

async function channels(main) {
  const list = await api("api/channels");
  fill(main, el("h2", {}, "Channels"), table(
    [["Channel"], ["Kind"], ["Endpoint"], ["Connections", "num"], ["Held polls", "num"],
     ["Open streams", "num"], ["Requests", "num"], ["Faults", "num"], ["Mean time", "num"]],
    list.map((c) => el("tr", { "data-channel": c.name },
      el("td", {}, el("code", {}, `/${c.name}`), el("div", { class: "muted" }, c.class)),
      el("td", {}, c.kind, c.wait_interval ? el("div", { class: "muted" },
                                                `held up to ${c.wait_interval} ms`) : null,
         c.heart_interval ? el("div", { class: "muted" }, `heartbeat ${c.heart_interval} ms`)
                          : null),
      el("td", {}, c.endpoint),
      el("td", { class: "num" }, number(c.connections),
         c.max_connections >= 0 ? ` / ${c.max_connections}` : ""),
      el("td", { class: "num" }, number(c.held_polls)),
      el("td", { class: "num" }, number(c.open_streams)),
      el("td", { class: "num" }, number(c.requests)),
      el("td", { class: "num" }, number(c.faults)),
      el("td", { class: "num" }, c.mean_ms === null ? "–" : `${c.mean_ms} ms`))),
    "No channels are mapped."));
}

async function connections(main) {
  const data = await api("api/clients");
  const writable = !state.overview.read_only;
  const rows = data.connections.map((c) => el("tr", { "data-connection": c.id },
    el("td", {}, el("code", { title: c.id }, c.id),
       c.expired ? el("span", { class: "tag" }, "expired") : null),
    el("td", {}, el("code", {}, c.channel)),
    el("td", {}, c.user || el("span", { class: "muted" }, c.authenticated ? "?" : "anonymous")),
    el("td", {}, ago(c.last_active, data.now),
       c.waiting ? el("span", { title: "a held poll or a stream waits for it" },
                      " ", el("span", { class: "dot" })) : null),
    el("td", {}, c.subscriptions.length ? c.subscriptions.map((s) => el("span",
      { class: "tag", title: `client ${s.client_id}${s.selector ? `, selector ${s.selector}` : ""}` },
      s.subtopic ? `${s.destination} / ${s.subtopic}` : s.destination))
      : el("span", { class: "muted" }, "none")),
    writable ? el("td", {}, el("button", { onclick: async () => {
      await post("api/disconnect", { id: c.id }).catch((e) => status(e.message, true));
      refresh();
    } }, "Disconnect")) : null));
  const shown = data.connections.length;
  fill(main,
    el("h2", {}, "Live connections"),
    el("p", { class: "muted", id: "connection-count" },
       `${number(data.total)} connection${data.total === 1 ? "" : "s"}` +
       (shown < data.total ? `, the ${shown} most recently active shown` : "") +
       (data.skipped ? ` (${number(data.skipped)} not read: past max_scan)` : "")),
    table([["Connection (DSId)"], ["Channel"], ["User"], ["Last active"], ["Subscriptions"]]
            .concat(writable ? [[""]] : []), rows, "No client is connected."));
}

async function destinations(main) {
  const data = await api("api/clients");
  const rows = [];
  for (const d of data.destinations) {
    rows.push(el("tr", { "data-destination": d.name },
      el("td", {}, el("code", {}, d.name)),
      el("td", { class: "num" }, number(d.subscribers)),
      el("td", { class: "num" }, number(d.consumers)),
      el("td", { class: "num" }, number(d.published)),
      el("td", { class: "num" }, number(d.delivered))));
    for (const s of d.subtopics) {
      rows.push(el("tr", { class: "sub" }, el("td", {}, "↳ subtopic ", el("code", {}, s.subtopic)),
                   el("td", { class: "num" }, number(s.subscribers)), el("td"), el("td"),
                   el("td")));
    }
  }
  fill(main, el("h2", {}, "Destinations"), table(
    [["Destination"], ["Subscribed connections", "num"], ["Consumers", "num"],
     ["Published", "num"], ["Delivered", "num"]], rows,
    "No destination has subscribers or messages yet."));
}

async function faults(main) {
  const list = await api("api/faults");
  fill(main, el("h2", {}, "Recent faults"),
    (list.length ? list.map((f) => el("div", { class: "panel fault" },
      el("div", { class: "head" }, el("strong", {}, f.error), el("code", {}, f.target),
         el("span", { class: "muted" }, `on /${f.channel}`),
         el("span", { class: "muted" }, new Date(f.time).toLocaleTimeString())),
      el("div", {}, f.message),
      f.detail ? el("pre", {}, f.detail) : null))
      : [el("p", { class: "empty", text: "No fault since the server started." })]));
}

// ------------------------------------------------------------------ navigation

async function refresh(first) {
  clearTimeout(state.timer);
  if (state.busy) {
    // A page is being drawn: draw again when it is done (from scratch for a new page).
    state.again = state.again === "first" || first ? "first" : "again";
    return;
  }
  const name = state.page;
  const page = pages[name];
  state.busy = true;
  try {
    await page.render(document.getElementById("main"), first);
    status(`${page.title}: updated ${new Date().toLocaleTimeString()}`);
  } catch (e) {
    status(`${page.title}: ${e.message}`, true);
  } finally {
    state.busy = false;
  }
  if (state.again) {
    const again = state.again === "first";
    state.again = null;
    refresh(again);
  } else if (page.every && state.page === name) {
    state.timer = setTimeout(refresh, page.every);
  }
}

function show() {
  const name = (window.location.hash || "#overview").slice(1);
  state.page = pages[name] ? name : "overview";
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.page === state.page);
  }
  document.title = `${pages[state.page].title} · amfast console`;
  refresh(true);
}

async function start() {
  state.overview = await api("api/overview");
  const o = state.overview;
  document.getElementById("user").textContent = o.user;
  document.getElementById("about").textContent =
    `${o.channel_set} · ${o.connection_manager} · ${o.subscription_manager} · amfast ${o.version}`;
  fill(document.getElementById("badges"),
    o.read_only ? el("span", { class: "badge" }, "read-only")
                : el("span", { class: "badge write" }, "calls enabled"),
    o.debug ? el("span", { class: "badge debug" }, "debug") : null);
  window.addEventListener("hashchange", show);
  show();
}

start().catch((e) => status(e.message, true));
