// keyrotor's web console: one module, no dependencies, no build step.
//
// It holds nothing of its own. The API token it signs in with lives in this tab's
// sessionStorage only, and every read and change is a call to the management API with
// `Authorization: SSWS <token>`, as any client makes. A token without the manage scope
// (GET /api/v1/api-tokens answers 403) sees no button that would change anything.
// The page is built with DOM calls, never from HTML strings, so no value the API returns
// is ever parsed as markup; the Content-Security-Policy allows no inline script or style.

const page = document.body.dataset;
const PREFIX = page.prefix || "";
const SECOND = 1000;
const RETENTION = Number(page.retention || 0) * SECOND; // EXPIRED keys stay published
const LIVE = Number(page.liveWindow || 0) * SECOND; // token lifetime + clock skew
const PERIOD = Number(page.rotationPeriod || 0) * SECOND; // AUTO rotation period
const NEXT_LEAD = page.nextLead ? Number(page.nextLead) * SECOND : null;
const TOKEN_KEY = "keyrotor.console.token";
const KEY_EVENT = "keyrotor.key.lifecycle.";
const SERVERS = "/api/v1/authorizationServers";

const main = document.getElementById("main");
const flashBox = document.getElementById("flash");
const session = { token: sessionStorage.getItem(TOKEN_KEY), canManage: false };
let tester = null; // {clientId, clientSecret, serverId} of a client made in this tab
let keepFlash = false; // a message that should outlive the next page change

// -- helpers -------------------------------------------------------------------------

function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

function s(tag, props = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  setProps(el, props);
  append(el, children);
  return el;
}

function setProps(el, props) {
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

const manageOnly = (...nodes) => (session.canManage ? nodes : []);
const short = (kid) => (kid ? `${kid.slice(0, 10)}…` : "none");
const at = (iso) => (iso ? Date.parse(iso) : null);

function when(t) {
  if (t === null || t === undefined || Number.isNaN(t)) return "—";
  return `${new Date(t).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
function fromNow(t) {
  if (t === null || t === undefined) return "";
  const seconds = (t - Date.now()) / SECOND;
  const units = [
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
    ["second", 1],
  ];
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size || unit === "second") {
      return relative.format(Math.round(seconds / size), unit);
    }
  }
  return "";
}

function duration(ms) {
  const minutes = Math.round(ms / 60000);
  if (minutes < 120) return `${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  return hours < 72 ? `${hours} hours` : `${Math.round(hours / 24)} days`;
}

function flash(message, kind = "error", keep = false) {
  keepFlash = keep;
  flashBox.hidden = !message;
  flashBox.className = `flash ${kind}`;
  flashBox.textContent = message || "";
}

class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const causes = (body?.errorCauses || []).map((c) => c.errorSummary).filter(Boolean);
    const summary =
      body?.errorSummary || body?.error_description || body?.error || `HTTP ${status}`;
    super(causes.length ? `${summary}: ${causes.join("; ")}` : summary);
    this.status = status;
    if (status === 429 && retryAfter) this.message += ` (retry in ${retryAfter} s)`;
  }
}

// One call to keyrotor: its JSON, or an ApiError. `auth: false` sends no API token (the
// token endpoint, with the client's own credentials in `basic`).
async function api(path, options = {}) {
  return (await call(path, options)).data;
}

async function call(path, { method = "GET", json, form, auth = true, basic } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (auth) headers.Authorization = `SSWS ${session.token}`;
  if (basic) headers.Authorization = `Basic ${btoa(`${basic[0]}:${basic[1]}`)}`;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  if (form) {
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(form).toString();
  }
  const response = await fetch(PREFIX + path, {
    method,
    headers,
    body,
    credentials: "omit",
    cache: "no-store",
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data, response.headers.get("Retry-After"));
    if (response.status === 401 && auth) {
      signOut(`The API token was refused (${error.message}): sign in again.`);
    }
    throw error;
  }
  return { data, headers: response.headers };
}

// Every server, following the list's `Link: <…>; rel="next"` pages.
async function listServers() {
  const all = [];
  let path = `${SERVERS}?limit=200`;
  while (path) {
    const { data, headers } = await call(path);
    all.push(...data);
    const next = (headers.get("Link") || "").match(/<([^>]+)>;\s*rel="next"/);
    const url = next ? new URL(next[1], location.href) : null;
    path = url && data.length ? url.pathname.slice(PREFIX.length) + url.search : null;
  }
  return all;
}

// -- signing in and out ------------------------------------------------------------------

async function learnScopes() {
  // Okta has no call that names a token's own scopes: only manage may list API tokens.
  try {
    await api("/api/v1/api-tokens");
    session.canManage = true;
  } catch (error) {
    if (error.status !== 403) throw error;
    session.canManage = false;
  }
  document.body.classList.toggle("read-only", !session.canManage);
  const who = document.getElementById("who");
  who.textContent = session.canManage ? "Signed in: read and manage" : "Signed in: read-only";
  who.hidden = false;
  document.getElementById("nav").hidden = false;
  document.getElementById("sign-out").hidden = false;
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  session.token = null;
  session.canManage = false;
  tester = null;
  for (const id of ["who", "nav", "sign-out"]) document.getElementById(id).hidden = true;
  document.body.classList.remove("read-only");
  renderSignIn(message);
}

function renderSignIn(message) {
  const input = h("input", {
    id: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
  });
  const form = h(
    "form",
    { id: "sign-in", onsubmit: (event) => signIn(event, input.value.trim()) },
    h("label", { for: "token" }, "API token"),
    input,
    h("button", { type: "submit" }, "Sign in"),
  );
  main.replaceChildren(
    h(
      "section",
      { class: "card narrow" },
      h("h1", {}, "Sign in"),
      h(
        "p",
        {},
        "Paste an API token (serve prints the first; keyrotor tokens create makes more). ",
        "It stays in this browser tab only ",
        "and is forgotten when the tab closes or you sign out; every call goes to the ",
        "management API with it.",
      ),
      form,
    ),
  );
  flash(message || "", message ? "error" : "info");
  input.focus();
}

async function signIn(event, token) {
  event.preventDefault();
  if (!token) return;
  session.token = token;
  try {
    await api(`${SERVERS}?limit=1`, {});
    sessionStorage.setItem(TOKEN_KEY, token);
    await learnScopes();
  } catch (error) {
    if (error.status !== 401) signOut(`Cannot sign in: ${error.message}`);
    return;
  }
  flash("");
  if (!location.hash || location.hash === "#") location.hash = "#/";
  else route();
}

// -- pages ---------------------------------------------------------------------------------

async function route() {
  if (!session.token) {
    renderSignIn();
    return;
  }
  const path = location.hash.replace(/^#/, "") || "/";
  const server = path.match(/^\/servers\/([^/]+)(\/access)?$/);
  try {
    if (server && server[2]) await renderAccess(decodeURIComponent(server[1]));
    else if (server) await renderServer(decodeURIComponent(server[1]));
    else await renderServers();
  } catch (error) {
    if (session.token) flash(error.message);
  }
}

function statusBadge(status) {
  return h("span", { class: `badge ${status.toLowerCase()}` }, status);
}

async function renderServers() {
  const servers = await listServers();
  const rows = servers.map((server) => {
    const signing = server.credentials.signing;
    const active = server.status === "ACTIVE";
    return h(
      "tr",
      { "data-id": server.id },
      h("td", {}, h("a", { href: `#/servers/${encodeURIComponent(server.id)}` }, server.name)),
      h("td", {}, statusBadge(server.status)),
      h("td", {}, signing.rotationMode),
      h("td", { class: "mono", title: signing.kid }, short(signing.kid)),
      h(
        "td",
        {},
        signing.nextRotation
          ? [
              when(at(signing.nextRotation)),
              h("small", {}, ` (${fromNow(at(signing.nextRotation))})`),
            ]
          : h("small", {}, "manual only"),
      ),
      h(
        "td",
        {},
        manageOnly(
          h(
            "button",
            {
              type: "button",
              class: "quiet toggle-status",
              onclick: () => toggleStatus(server, () => route()),
            },
            active ? "Deactivate" : "Activate",
          ),
        ),
      ),
    );
  });
  main.replaceChildren(
    h(
      "section",
      { class: "card" },
      h("h1", {}, "Authorization servers"),
      h(
        "table",
        { id: "servers" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Name", "Status", "Mode", "Signing key", "Next rotation", ""].map((t) =>
              h("th", {}, t),
            ),
          ),
        ),
        h("tbody", {}, rows),
      ),
    ),
    ...manageOnly(createServerForm()),
  );
}

function createServerForm() {
  const name = h("input", { id: "new-name", required: true, maxlength: 255 });
  const audience = h("input", { id: "new-audience", required: true, placeholder: "api://orders" });
  const description = h("input", { id: "new-description" });
  const mode = h(
    "select",
    { id: "new-mode" },
    h("option", { value: "AUTO" }, "AUTO"),
    h("option", { value: "MANUAL" }, "MANUAL"),
  );
  const submit = async (event) => {
    event.preventDefault();
    try {
      const made = await api(SERVERS, {
        method: "POST",
        json: {
          name: name.value.trim(),
          description: description.value.trim(),
          audiences: [audience.value.trim()],
          credentials: { signing: { rotationMode: mode.value } },
        },
      });
      flash(`Created ${made.name}: its first keys are published.`, "info", true);
      location.hash = `#/servers/${encodeURIComponent(made.id)}`;
    } catch (error) {
      flash(error.message);
    }
  };
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "New authorization server"),
    h(
      "form",
      { id: "create-server", class: "grid", onsubmit: submit },
      h("label", { for: "new-name" }, "Name"),
      name,
      h("label", { for: "new-audience" }, "Audience"),
      audience,
      h("label", { for: "new-description" }, "Description"),
      description,
      h("label", { for: "new-mode" }, "Rotation"),
      mode,
      h("span"),
      h("button", { type: "submit" }, "Create"),
    ),
  );
}

async function toggleStatus(server, done) {
  const active = server.status === "ACTIVE";
  const ok = await confirmAction(
    active ? `Deactivate ${server.name}?` : `Activate ${server.name}?`,
    active
      ? [
          "Its token endpoint, JWKS and discovery documents answer 404 until it is activated",
          " again: resource servers cannot fetch its keys meanwhile. Its keys are kept.",
        ].join("")
      : "Its token endpoint, JWKS and discovery documents answer again.",
    active ? "Deactivate" : "Activate",
  );
  if (!ok) return;
  const action = active ? "deactivate" : "activate";
  try {
    await api(`${SERVERS}/${encodeURIComponent(server.id)}/lifecycle/${action}`, {
      method: "POST",
    });
    flash(`${server.name} is ${active ? "INACTIVE" : "ACTIVE"}.`, "info");
  } catch (error) {
    flash(error.message);
  }
  await done();
}

function confirmAction(title, text, okLabel) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  const body = document.getElementById("confirm-text");
  body.replaceChildren(...(Array.isArray(text) ? text : [text]).map((line) => h("p", {}, line)));
  const ok = document.getElementById("confirm-ok");
  const cancel = document.getElementById("confirm-cancel");
  ok.textContent = okLabel;
  return new Promise((resolve) => {
    const finish = (answer) => {
      ok.onclick = cancel.onclick = dialog.oncancel = null;
      dialog.close();
      resolve(answer);
    };
    ok.onclick = () => finish(true);
    cancel.onclick = () => finish(false);
    dialog.oncancel = () => finish(false);
    dialog.showModal();
  });
}

// -- one server ----------------------------------------------------------------------------

async function loadServer(id) {
  const path = `${SERVERS}/${encodeURIComponent(id)}`;
  const server = await api(path);
  const query = new URLSearchParams({
    filter: `target.id eq "${server.id}"`,
    since: "1970-01-01T00:00:00Z",
    sortOrder: "DESCENDING",
    limit: "1000",
  });
  const [keys, events, scopes] = await Promise.all([
    api(`${path}/credentials/keys`),
    api(`/api/v1/logs?${query}`).catch(() => []), // the record only adds dates
    api(`${path}/scopes`),
  ]);
  return { server, keys, events, scopes };
}

function serverHeader(server, tab) {
  const signing = server.credentials.signing;
  const base = `#/servers/${encodeURIComponent(server.id)}`;
  return h(
    "section",
    { class: "card" },
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Authorization servers"), " / "),
    h(
      "h1",
      {},
      server.name,
      " ",
      statusBadge(server.status),
      h("span", { class: "badge mode" }, signing.rotationMode),
    ),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "id"),
      h("dd", { class: "mono" }, server.id),
      h("dt", {}, "issuer"),
      h("dd", { class: "mono" }, server.issuer),
      h("dt", {}, "audiences"),
      h("dd", {}, server.audiences.join(", ")),
      h("dt", {}, "last rotated"),
      h("dd", {}, when(at(signing.lastRotated))),
      h("dt", {}, "next rotation"),
      h(
        "dd",
        { id: "next-rotation" },
        signing.nextRotation
          ? `${when(at(signing.nextRotation))} (${fromNow(at(signing.nextRotation))})`
          : "none: MANUAL mode rotates only when asked",
      ),
    ),
    h(
      "nav",
      { class: "tabs" },
      h("a", { href: base, class: tab === "keys" ? "current" : "" }, "Keys and token tester"),
      h(
        "a",
        { href: `${base}/access`, class: tab === "access" ? "current" : "" },
        "Scopes and clients",
      ),
    ),
  );
}

async function renderServer(id) {
  const { server, keys, events, scopes } = await loadServer(id);
  const now = Date.now();
  const lanes = keyLanes(server, keys, events, now);
  const timeline = drawTimeline(server, lanes, now);
  const signing = server.credentials.signing;
  const reload = () => renderServer(id);
  const actions = manageOnly(
    h(
      "div",
      { class: "actions" },
      h(
        "button",
        { type: "button", id: "rotate", onclick: () => rotate(server, lanes, reload) },
        "Rotate keys…",
      ),
      h(
        "button",
        {
          type: "button",
          id: "switch-mode",
          class: "quiet",
          onclick: () => switchMode(server, reload),
        },
        signing.rotationMode === "AUTO" ? "Switch to MANUAL…" : "Switch to AUTO…",
      ),
      h(
        "button",
        {
          type: "button",
          class: "quiet toggle-status",
          onclick: () => toggleStatus(server, reload),
        },
        server.status === "ACTIVE" ? "Deactivate…" : "Activate…",
      ),
    ),
  );
  main.replaceChildren(
    serverHeader(server, "keys"),
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Signing keys"),
      actions,
      h("p", { id: "timeline-summary" }, summary(server, lanes)),
      timeline,
      legend(),
      keyTable(lanes),
    ),
    tokenTester(server, scopes),
  );
}

// Each key's life, from the keys list (its status now) and the System Log (when it was
// made, published as NEXT, activated, expired, retired); planned moments from the server's
// schedule and the retention.
function keyLanes(server, keys, events, now) {
  const lanes = new Map();
  const lane = (kid) => {
    if (!lanes.has(kid)) {
      lanes.set(kid, { kid, status: "RETIRED", generation: 0, times: {} });
    }
    return lanes.get(kid);
  };
  keys.forEach((key) => {
    lane(key.kid).status = key.status;
  });
  for (const event of events) {
    const target = (event.target || [])[0];
    if (!target || !event.eventType.startsWith(KEY_EVENT)) continue;
    const found = lane(target.id);
    const data = event.debugContext?.debugData || {};
    const step = event.eventType.slice(KEY_EVENT.length);
    found.times[step] = at(step === "retire" && data.retiredAt ? data.retiredAt : event.published);
    found.generation = data.generation || found.generation;
  }
  const signing = server.credentials.signing;
  const nextRotation = at(signing.nextRotation);
  const all = [...lanes.values()];
  const active = all.find((k) => k.status === "ACTIVE");
  if (active && !active.times.activate) active.times.activate = at(signing.lastRotated);
  const expired = all
    .filter((k) => k.status === "EXPIRED")
    .sort((a, b) => (b.times.expire || 0) - (a.times.expire || 0));
  for (const key of all) {
    const t = key.times;
    key.start = t.create ?? t.publish_next ?? t.activate ?? t.expire ?? null;
    if (key.status === "NEXT") key.plannedActive = nextRotation;
    if (key.status === "ACTIVE") key.plannedExpire = nextRotation;
    if (key.status === "EXPIRED" && t.expire) {
      key.liveUntil = t.expire + LIVE;
      const retention = t.expire + RETENTION;
      // the newest EXPIRED key leaves only at the next rotation, and never before retention
      if (key === expired[0])
        key.plannedRetire = nextRotation ? Math.max(retention, nextRotation) : null;
      else key.plannedRetire = retention;
      key.retentionEnds = retention;
    }
    if (key.status === "RETIRED" && t.expire) key.liveUntil = t.expire + LIVE;
  }
  const shown = all.filter((k) => k.status !== "RETIRED");
  const retired = all
    .filter((k) => k.status === "RETIRED" && k.times.retire)
    .sort((a, b) => b.times.retire - a.times.retire)
    .slice(0, 3);
  const order = { RETIRED: 0, EXPIRED: 1, ACTIVE: 2, NEXT: 3 };
  return [...retired, ...shown].sort(
    (a, b) => order[a.status] - order[b.status] || (a.start || 0) - (b.start || 0),
  );
}

function summary(server, lanes) {
  const signing = server.credentials.signing;
  const active = lanes.find((k) => k.status === "ACTIVE");
  const next = lanes.find((k) => k.status === "NEXT");
  const parts = [];
  if (active)
    parts.push(`Signs now: ${short(active.kid)} (ACTIVE since ${when(active.times.activate)}).`);
  const rotation = at(signing.nextRotation);
  if (next) {
    const moment = rotation
      ? `${when(rotation)} (${fromNow(rotation)})`
      : "the next manual rotation";
    parts.push(` Next: ${short(next.kid)} becomes ACTIVE at ${moment}.`);
  } else if (signing.nextRotation && NEXT_LEAD) {
    parts.push(` A NEXT key is made at ${when(at(signing.nextRotation) - NEXT_LEAD)}.`);
  }
  const live = lanes.filter((k) => k.status === "EXPIRED" && k.liveUntil > Date.now());
  if (live.length) {
    const until = when(Math.max(...live.map((k) => k.liveUntil)));
    parts.push(` ${live.length} EXPIRED key(s) may still verify live tokens (until ${until}).`);
  }
  return parts.join("");
}

const WIDTH = 960;
const LABEL = 190; // x where the bars start
const RIGHT = WIDTH - 20;
const ROW = 30;
const TOP = 34;

// The timeline: one row per key, time left to right, now at 55 %. Each side's scale is
// logarithmic in the distance from now (linear within the first minute), so a rotation
// seconds ago, a retention that ends within the hour and a rotation 90 days ahead all
// stay visible; ticks mark an hour, a day and a month from now.
function drawTimeline(server, lanes, now) {
  const signing = server.credentials.signing;
  const nextRotation = at(signing.nextRotation);
  const starts = lanes.map((k) => k.start).filter((t) => t !== null);
  const first = Math.min(now - SECOND, ...starts);
  const planned = lanes
    .flatMap((k) => [k.plannedActive, k.plannedExpire, k.plannedRetire, k.liveUntil])
    .filter((t) => t && t > now);
  const last = Math.max(now + LIVE, nextRotation || 0, ...planned) + 60 * SECOND;
  const NOW_X = LABEL + 0.55 * (RIGHT - LABEL);
  const far = (ms) => Math.log1p(Math.abs(ms) / (60 * SECOND));
  const x = (t) => {
    if (t === null || t === undefined) return null;
    if (t <= now)
      return NOW_X - (far(now - Math.max(t, first)) / far(now - first)) * (NOW_X - LABEL);
    return NOW_X + (far(Math.min(t, last) - now) / far(last - now)) * (RIGHT - NOW_X);
  };
  const height = TOP + lanes.length * ROW + 26;
  const svg = s("svg", {
    id: "timeline",
    viewBox: `0 0 ${WIDTH} ${height}`,
    role: "img",
    "aria-label": `Timeline of the signing keys of ${server.name}`,
  });
  // the axis, now, and ticks an hour, a day and 30 days either side
  const bottom = TOP + lanes.length * ROW;
  svg.append(
    s("line", { class: "axis", x1: LABEL, x2: RIGHT, y1: TOP - 8, y2: TOP - 8 }),
    s("text", { class: "tick now", x: NOW_X, y: TOP - 14, "text-anchor": "middle" }, "now"),
    s("text", { class: "tick", x: LABEL, y: bottom + 16 }, `from ${when(first)}`),
  );
  const HOUR = 3600 * SECOND;
  for (const [ms, label] of [
    [HOUR, "1 h"],
    [24 * HOUR, "1 d"],
    [720 * HOUR, "30 d"],
  ]) {
    for (const [t, text] of [
      [now - ms, `−${label}`],
      [now + ms, `+${label}`],
    ]) {
      if (t < first + ms / 4 || t > last - ms / 4) continue;
      svg.append(
        s("line", { class: "axis", x1: x(t), x2: x(t), y1: TOP - 11, y2: TOP - 5 }),
        s("text", { class: "tick", x: x(t), y: TOP - 14, "text-anchor": "middle" }, text),
      );
    }
  }
  lanes.forEach((key, index) => {
    const y = TOP + index * ROW;
    const row = s("g", {
      class: `key ${key.status.toLowerCase()}`,
      "data-kid": key.kid,
      "data-status": key.status,
    });
    row.append(
      s("rect", { class: "row", x: 0, y: y - 3, width: WIDTH, height: ROW }),
      s("text", { class: "label", x: 8, y: y + 15 }, `${key.status} ${short(key.kid)}`),
    );
    for (const [from, to, kind, note] of segments(key, now, last)) {
      const x1 = x(from);
      const x2 = x(to);
      if (x1 === null || x2 === null) continue;
      row.append(
        s(
          "rect",
          {
            class: `seg ${kind}`,
            x: x1,
            y: y + 2,
            width: Math.max(x2 - x1, 2),
            height: ROW - 10,
            rx: 3,
          },
          s("title", {}, `${key.kid}\n${note}: ${when(from)} → ${to >= last ? "…" : when(to)}`),
        ),
      );
    }
    svg.append(row);
  });
  svg.append(s("line", { class: "now-line", x1: NOW_X, x2: NOW_X, y1: TOP - 10, y2: bottom }));
  if (nextRotation) {
    const nx = x(nextRotation);
    svg.append(
      s("line", { class: "rotation-line", x1: nx, x2: nx, y1: TOP - 10, y2: bottom }),
      s(
        "text",
        { class: "tick", x: Math.min(nx, RIGHT), y: bottom + 16, "text-anchor": "end" },
        `next rotation ${when(nextRotation)}`,
      ),
    );
  }
  return h("div", { class: "timeline" }, svg);
}

// [from, to, kind, what] pieces of one key's row; `planned-…` kinds are still to come.
function segments(key, now, end) {
  const t = key.times;
  const pieces = [];
  const start = key.start ?? null;
  const nextFrom = t.publish_next ?? (t.activate ? null : start);
  if (nextFrom !== null && nextFrom !== undefined) {
    const until = t.activate ?? (key.status === "NEXT" ? now : null);
    if (until !== null) pieces.push([nextFrom, until, "next", "NEXT (published, not signing)"]);
  }
  if (key.status === "NEXT") {
    const activeAt = key.plannedActive ?? end;
    pieces.push([now, activeAt, "planned next", "NEXT until it is activated"]);
    if (key.plannedActive)
      pieces.push([key.plannedActive, end, "planned active", "ACTIVE from the next rotation"]);
  }
  if (t.activate) {
    const until = t.expire ?? now;
    pieces.push([t.activate, until, "active", "ACTIVE (signing)"]);
  }
  if (key.status === "ACTIVE") {
    pieces.push([
      now,
      key.plannedExpire ?? end,
      "planned active",
      "ACTIVE until the next rotation",
    ]);
    if (key.plannedExpire)
      pieces.push([key.plannedExpire, end, "planned expired", "EXPIRED from the next rotation"]);
  }
  if (t.expire) {
    const gone = key.status === "RETIRED" ? (t.retire ?? t.expire) : now;
    const live = Math.min(key.liveUntil ?? t.expire, gone);
    if (live > t.expire)
      pieces.push([t.expire, live, "expired-live", "EXPIRED; tokens it signed may still be valid"]);
    if (gone > live)
      pieces.push([Math.max(live, t.expire), gone, "expired", "EXPIRED; safe to retire"]);
  }
  if (key.status === "EXPIRED") {
    if (key.liveUntil > now)
      pieces.push([
        now,
        key.liveUntil,
        "planned expired-live",
        "tokens it signed may still be valid",
      ]);
    const retire = key.plannedRetire ?? end;
    const from = Math.max(now, key.liveUntil ?? now);
    if (retire > from)
      pieces.push([
        from,
        retire,
        "planned expired",
        key.plannedRetire ? "published until it retires" : "published until the next rotation",
      ]);
  }
  return pieces;
}

function legend() {
  const item = (kind, text) => h("li", {}, h("span", { class: `swatch ${kind}` }), text);
  return h(
    "ul",
    { class: "legend" },
    item("next", "NEXT: published, not signing yet"),
    item("active", "ACTIVE: signs every token"),
    item("expired-live", "EXPIRED: tokens it signed may still be valid"),
    item("expired", "EXPIRED: safe to retire"),
    item("planned", "planned (faint, dashed)"),
  );
}

function keyTable(lanes) {
  const date = (t) => (t ? when(t) : "—");
  return h(
    "table",
    { id: "keys" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["kid", "status", "created", "ACTIVE", "EXPIRED", "retires"].map((t) => h("th", {}, t)),
      ),
    ),
    h(
      "tbody",
      {},
      lanes.map((key) =>
        h(
          "tr",
          { "data-kid": key.kid },
          h("td", { class: "mono", title: key.kid }, short(key.kid)),
          h("td", {}, statusBadge(key.status)),
          h("td", {}, date(key.start)),
          h(
            "td",
            {},
            key.times.activate
              ? date(key.times.activate)
              : key.plannedActive
                ? `${date(key.plannedActive)} (planned)`
                : "—",
          ),
          h(
            "td",
            {},
            key.times.expire
              ? date(key.times.expire)
              : key.plannedExpire
                ? `${date(key.plannedExpire)} (planned)`
                : "—",
          ),
          h(
            "td",
            {},
            key.times.retire
              ? date(key.times.retire)
              : key.status === "EXPIRED"
                ? key.plannedRetire
                  ? `${date(key.plannedRetire)} (planned)`
                  : `at the next rotation, not before ${date(key.retentionEnds)}`
                : "—",
          ),
        ),
      ),
    ),
  );
}

async function rotate(server, lanes, done) {
  const signing = server.credentials.signing;
  const active = lanes.find((k) => k.status === "ACTIVE");
  const next = lanes.find((k) => k.status === "NEXT");
  const now = Date.now();
  const lines = [
    `The ACTIVE key ${short(active?.kid)} stops signing and becomes EXPIRED. It stays in the` +
      ` JWKS until the rotation after this one, and at least until ${when(now + RETENTION)},` +
      " so every token it signed keeps verifying.",
    next
      ? `The NEXT key ${short(next.kid)}, already published, becomes ACTIVE and signs every` +
        " token from now on."
      : "There is no NEXT key: a new key is made and signs at once; verifiers fetch the JWKS" +
        " again when they see its kid.",
    "A new NEXT key is made and published.",
  ];
  const newest = lanes
    .filter((k) => k.status === "EXPIRED")
    .sort((a, b) => (b.times.expire || 0) - (a.times.expire || 0))[0];
  if (newest) {
    lines.push(
      newest.retentionEnds && newest.retentionEnds <= now
        ? `The EXPIRED key ${short(newest.kid)} leaves the JWKS (retired).`
        : `The EXPIRED key ${short(newest.kid)} stays in the JWKS until` +
            ` ${when(newest.retentionEnds)}.`,
    );
  }
  if (signing.rotationMode === "AUTO" && PERIOD) {
    lines.push(`The next AUTO rotation moves to ${when(now + PERIOD)}.`);
  }
  if (server.status !== "ACTIVE")
    lines.push("The server is INACTIVE: its keys rotate all the same.");
  if (!(await confirmAction(`Rotate the keys of ${server.name}?`, lines, "Rotate now"))) return;
  try {
    await api(`${SERVERS}/${encodeURIComponent(server.id)}/credentials/lifecycle/keyRotate`, {
      method: "POST",
      json: { use: "sig" },
    });
    flash(`Rotated: ${server.name} signs with its former NEXT key now.`, "info");
  } catch (error) {
    flash(error.message);
  }
  await done();
}

async function switchMode(server, done) {
  const signing = server.credentials.signing;
  const toAuto = signing.rotationMode !== "AUTO";
  const due = at(signing.lastRotated) + PERIOD;
  const overdue = due <= Date.now() ? ", that is now" : "";
  const text = toAuto
    ? `Keys rotate by themselves every ${duration(PERIOD)}; the next AUTO rotation is due` +
      ` ${when(due)}${overdue}. The signing key does not change now.`
    : "Keys rotate only when someone asks; nothing rotates them by themselves. The signing" +
      " key does not change now.";
  const mode = toAuto ? "AUTO" : "MANUAL";
  if (!(await confirmAction(`Switch ${server.name} to ${mode}?`, text, `Switch to ${mode}`)))
    return;
  try {
    await api(`${SERVERS}/${encodeURIComponent(server.id)}`, {
      method: "PUT",
      json: {
        name: server.name,
        description: server.description,
        audiences: server.audiences,
        issuerMode: server.issuerMode,
        credentials: { signing: { rotationMode: mode } },
      },
    });
    flash(`${server.name} rotates ${toAuto ? "automatically" : "manually"} now.`, "info");
  } catch (error) {
    flash(error.message);
  }
  await done();
}

// -- the token tester ----------------------------------------------------------------------

function tokenTester(server, scopes) {
  const mine = tester && tester.serverId === server.id ? tester : null;
  const clientId = h("input", { id: "tester-client-id", required: true, value: mine?.clientId });
  const secret = h("input", {
    id: "tester-secret",
    type: "password",
    autocomplete: "off",
    required: true,
    value: mine?.clientSecret,
  });
  const scope = h(
    "select",
    { id: "tester-scope" },
    scopes.map((found) => h("option", { value: found.name }, found.name)),
  );
  const result = h("div", { id: "tester-result" });
  const submit = async (event) => {
    event.preventDefault();
    result.replaceChildren();
    try {
      const answer = await api(`/oauth2/${encodeURIComponent(server.id)}/v1/token`, {
        method: "POST",
        auth: false,
        basic: [clientId.value.trim(), secret.value],
        form: { grant_type: "client_credentials", scope: scope.value },
      });
      showToken(answer, result);
    } catch (error) {
      result.replaceChildren(h("p", { class: "error" }, `Refused: ${error.message}`));
    }
  };
  const form = scopes.length
    ? h(
        "form",
        { id: "token-tester", class: "grid", onsubmit: submit },
        h("label", { for: "tester-client-id" }, "Client id"),
        clientId,
        h("label", { for: "tester-secret" }, "Client secret"),
        secret,
        h("label", { for: "tester-scope" }, "Scope"),
        scope,
        h("span"),
        h("button", { type: "submit", id: "request-token" }, "Request a token"),
      )
    : h(
        "p",
        {},
        "This server has no scopes yet, and a token needs one",
        session.canManage
          ? [": ", h("a", { href: `#/servers/${encodeURIComponent(server.id)}/access` }, "add one")]
          : null,
        ".",
      );
  return h(
    "section",
    { class: "card", id: "tester" },
    h("h2", {}, "Token tester"),
    h(
      "p",
      {},
      "Asks this server's token endpoint for a client-credentials token and shows what it holds; ",
      "its kid is marked in the timeline. The secret is sent to keyrotor only.",
    ),
    form,
    result,
  );
}

function decodePart(part) {
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(base64 + "===".slice((base64.length + 3) % 4)), (c) =>
    c.charCodeAt(0),
  );
  return JSON.parse(new TextDecoder().decode(bytes));
}

function jsonBlock(id, value, marked) {
  const entries = Object.entries(value);
  const lines = entries.map(([name, item], index) => {
    const comma = index < entries.length - 1 ? "," : "";
    const rendered = JSON.stringify(item);
    const shown = name === marked ? h("mark", { class: "kid" }, rendered) : rendered;
    const note = ["iat", "exp", "nbf"].includes(name)
      ? h("span", { class: "note" }, `  // ${when(item * SECOND)}`)
      : null;
    return [`  ${JSON.stringify(name)}: `, shown, comma, note, "\n"];
  });
  return h("pre", { id }, "{\n", lines, "}");
}

function showToken(answer, result) {
  const [header, claims] = answer.access_token.split(".").slice(0, 2).map(decodePart);
  document
    .querySelectorAll("#timeline g.key.highlight")
    .forEach((g) => g.classList.remove("highlight"));
  const row = [...document.querySelectorAll("#timeline g.key")].find(
    (g) => g.dataset.kid === header.kid,
  );
  if (row) row.classList.add("highlight");
  const which = row
    ? `Signed by the ${row.dataset.status} key ${short(header.kid)}, marked in the timeline.`
    : `Signed by ${short(header.kid)}, a key not among this server's published keys.`;
  result.replaceChildren(
    h("p", { id: "tester-kid", "data-kid": header.kid }, which),
    h(
      "p",
      {},
      `${answer.token_type} token, expires in ${answer.expires_in} s, scope ${answer.scope}.`,
    ),
    h("h3", {}, "Header"),
    jsonBlock("token-header", header, "kid"),
    h("h3", {}, "Claims"),
    jsonBlock("token-claims", claims, null),
  );
}

// -- scopes and clients --------------------------------------------------------------------

async function renderAccess(id) {
  const path = `${SERVERS}/${encodeURIComponent(id)}`;
  const [server, scopes, clients] = await Promise.all([
    api(path),
    api(`${path}/scopes`),
    api("/oauth2/v1/clients?limit=200"),
  ]);
  const reload = () => renderAccess(id);
  main.replaceChildren(
    serverHeader(server, "access"),
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Scopes"),
      h(
        "table",
        { id: "scopes" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["name", "description", "consent", "published"].map((t) => h("th", {}, t)),
          ),
        ),
        h(
          "tbody",
          {},
          scopes.map((found) =>
            h(
              "tr",
              {},
              h("td", { class: "mono" }, found.name),
              h("td", {}, found.description || ""),
              h("td", {}, found.consent),
              h("td", {}, found.metadataPublish),
            ),
          ),
        ),
      ),
      scopes.length ? null : h("p", {}, "No scopes yet."),
      manageOnly(createScopeForm(server, reload)),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Clients"),
      h(
        "p",
        {},
        "Clients are registered for the whole keyrotor service (Okta's service apps); ",
        "keyrotor has ",
        "no access policies, so each may ask this server for any of its scopes.",
      ),
      h(
        "table",
        { id: "clients" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["name", "client id", "authentication"].map((t) => h("th", {}, t)),
          ),
        ),
        h(
          "tbody",
          {},
          clients.map(clientRow),
        ),
      ),
      manageOnly(createClientForm(server)),
    ),
  );
}

function clientRow(client) {
  return h(
    "tr",
    {},
    h("td", {}, client.client_name),
    h("td", { class: "mono" }, client.client_id),
    h("td", {}, client.token_endpoint_auth_method),
  );
}

function createScopeForm(server, done) {
  const name = h("input", { id: "scope-name", required: true, placeholder: "orders:read" });
  const description = h("input", { id: "scope-description" });
  const submit = async (event) => {
    event.preventDefault();
    try {
      await api(`${SERVERS}/${encodeURIComponent(server.id)}/scopes`, {
        method: "POST",
        json: { name: name.value.trim(), description: description.value.trim() || undefined },
      });
      flash(`Scope ${name.value.trim()} added.`, "info");
      await done();
    } catch (error) {
      flash(error.message);
    }
  };
  return h(
    "form",
    { id: "create-scope", class: "grid", onsubmit: submit },
    h("label", { for: "scope-name" }, "New scope"),
    name,
    h("label", { for: "scope-description" }, "Description"),
    description,
    h("span"),
    h("button", { type: "submit" }, "Add scope"),
  );
}

function createClientForm(server) {
  const name = h("input", { id: "client-name", required: true, placeholder: "billing" });
  const shown = h("div", { id: "new-client" });
  const submit = async (event) => {
    event.preventDefault();
    try {
      const made = await api("/oauth2/v1/clients", {
        method: "POST",
        json: { client_name: name.value.trim() },
      });
      document.querySelector("#clients tbody")?.append(clientRow(made));
      const use = () => {
        tester = {
          clientId: made.client_id,
          clientSecret: made.client_secret,
          serverId: server.id,
        };
        location.hash = `#/servers/${encodeURIComponent(server.id)}`;
      };
      shown.replaceChildren(
        h("p", {}, "Registered. Its secret is shown this once (keyrotor keeps only a digest):"),
        h(
          "dl",
          { class: "facts" },
          h("dt", {}, "client id"),
          h("dd", { class: "mono", id: "new-client-id" }, made.client_id),
          h("dt", {}, "client secret"),
          h("dd", { class: "mono", id: "new-client-secret" }, made.client_secret),
        ),
        h(
          "button",
          { type: "button", id: "use-in-tester", onclick: use },
          "Use it in the token tester",
        ),
      );
    } catch (error) {
      flash(error.message);
    }
  };
  return [
    h(
      "form",
      { id: "create-client", class: "grid", onsubmit: submit },
      h("label", { for: "client-name" }, "New client"),
      name,
      h("span"),
      h("button", { type: "submit" }, "Register client"),
    ),
    shown,
  ];
}

// -- start ---------------------------------------------------------------------------------

document.getElementById("sign-out").addEventListener("click", () => {
  location.hash = "#/";
  signOut("Signed out: the token is forgotten.");
});
window.addEventListener("hashchange", () => {
  if (session.token && !keepFlash) flash("");
  keepFlash = false;
  route();
});

if (session.token) {
  learnScopes()
    .then(route)
    .catch((error) => {
      if (session.token) flash(error.message);
    });
} else {
  renderSignIn();
}
