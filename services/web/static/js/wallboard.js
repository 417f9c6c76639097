// The supervisor wallboard: the centre now, read from the services every few seconds (no reloads) — queues per
// pool × channel, the current interval's service level and abandon rate, agents by state and time in it, SLA
// clocks at risk and breached, escalations as they appear, the supervisor queue with assign, and today's
// satisfaction figures, with charts.

import { ApiError, get, post, svc } from "./api.js";
import { bars, line, split } from "./charts.js";
import { clock, h, replace, toast } from "./dom.js";
import { hm, label, number, onLanguage, percent, t, time } from "./i18n.js";
import { start } from "./shell.js";

const INTERVAL_MS = 15 * 60 * 1000;
const HISTORY_MS = 10 * 60 * 1000;
const STATES = ["available", "busy", "wrap_up", "away", "offline"];

const board = {
  session: null,
  queue: null,
  agents: [],
  figures: [],
  risk: [],
  satisfaction: null,
  depth: [],
  escalations: [],
  fired: null,
  fetchedAt: Date.now(),
  errors: {},
};
const measured = (window.__switchboard = { polls: 0 });

function intervalStart(ms) {
  return Math.floor(ms / INTERVAL_MS) * INTERVAL_MS;
}

function today() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

async function safely(name, load) {
  try {
    const value = await load();
    delete board.errors[name];
    return value;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) throw error;
    board.errors[name] = error.message;
    return undefined;
  }
}

async function poll() {
  const now = Date.now();
  const since = new Date(intervalStart(now) - 7 * INTERVAL_MS).toISOString();
  // Two reads of the risk list: the breached (overdue first) and, separately, the running clocks closest to
  // their breach, so a pile of old breaches never hides the next warning.
  const [queue, agents, figures, overdue, soon] = await Promise.all([
    safely("queue", () => get(svc("routing", "/supervisor/queue", { limit: 20 }))),
    safely("agents", () => get(svc("routing", "/agents"))),
    safely("figures", () => get(svc("routing", "/figures/queue", { from: since }))),
    safely("risk", () => get(svc("sla", "/sla/at-risk", { include_breached: true, limit: 20 }))),
    safely("risk", () => get(svc("sla", "/sla/at-risk", { limit: 20 }))),
  ]);
  const risk = overdue && soon ? [...overdue.filter((r) => r.breached), ...soon] : undefined;
  board.fetchedAt = Date.now();
  if (queue) {
    board.queue = queue;
    board.depth.push({ t: board.fetchedAt, v: queue.waiting });
    board.depth = board.depth.filter((p) => p.t >= board.fetchedAt - HISTORY_MS);
  }
  if (agents) board.agents = agents;
  if (figures) board.figures = figures;
  if (risk) {
    noticeEscalations(risk);
    board.risk = risk;
  }
  measured.polls += 1;
  draw();
}

async function pollSatisfaction() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const report = await safely("satisfaction", () => get(svc("feedback", "/feedback/figures", { from: today(), tz: zone, comments: 0 })));
  if (report) board.satisfaction = report.total;
  drawTiles();
}

/** Escalation levels fired since the last look appear in the feed (the first look only learns what is there). */
function noticeEscalations(risk) {
  const seen = new Set();
  for (const row of risk) {
    for (const alert of row.levels_fired) {
      if (!alert.startsWith("escalation:")) continue;
      const key = `${row.contact_id}/${row.clock}/${alert}`;
      seen.add(key);
      if (board.fired && !board.fired.has(key)) {
        board.escalations.unshift({ at: new Date(), level: Number(alert.split(":")[1]), row });
        toast(t("wb.escalated", { level: alert.split(":")[1], clock: label("clock", row.clock) }), "error");
      }
    }
  }
  board.fired = new Set([...(board.fired || []), ...seen]);
  board.escalations = board.escalations.slice(0, 20);
}

// --- figures of the current interval -----------------------------------------------------------------------------

function intervalTotals(rows) {
  const sum = (k) => rows.reduce((s, r) => s + (r[k] || 0), 0);
  const answered = sum("answered");
  const abandoned = sum("abandoned");
  const inThreshold = sum("answered_in_threshold");
  const asaWeighted = rows.reduce((s, r) => s + (r.asa_s || 0) * (r.answered || 0), 0);
  return {
    arrived: sum("arrived"),
    answered,
    abandoned,
    serviceLevel: answered + abandoned ? (100 * inThreshold) / (answered + abandoned) : null,
    abandonRate: answered + abandoned ? (100 * abandoned) / (answered + abandoned) : null,
    asa: answered ? asaWeighted / answered : null,
  };
}

function byInterval() {
  const groups = new Map();
  for (const row of board.figures) {
    const key = Date.parse(row.interval_start);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(row);
  }
  const start = intervalStart(Date.now()) - 7 * INTERVAL_MS;
  return Array.from({ length: 8 }, (_, i) => {
    const at = start + i * INTERVAL_MS;
    return { at, ...intervalTotals(groups.get(at) || []) };
  });
}

// --- drawing -----------------------------------------------------------------------------------------------------

function draw() {
  drawTiles();
  drawQueues();
  drawCharts();
  drawAgents();
  drawRisk();
  drawEscalations();
  drawSupervisorQueue();
}

function tile(id, key, value, extra = "", tone = "") {
  return h(
    "div",
    { class: `tile ${tone}`, id: `tile-${id}` },
    h("div", { class: "label" }, t(key)),
    h("div", { class: "value" }, value),
    extra ? h("div", { class: "extra" }, extra) : null,
  );
}

function presenceCounts() {
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const agent of board.agents) if (agent.active) counts[agent.presence] = (counts[agent.presence] || 0) + 1;
  return counts;
}

function drawTiles() {
  const current = byInterval().at(-1) || intervalTotals([]);
  const queues = board.queue?.queues || [];
  const oldest = Math.max(0, ...queues.map((q) => q.oldest_s));
  const counts = presenceCounts();
  const s = board.satisfaction;
  const slTone = current.serviceLevel === null ? "" : current.serviceLevel < 80 ? "bad" : "ok";
  replace(
    document.getElementById("tiles"),
    tile("waiting", "wb.waiting", number(board.queue?.waiting ?? 0), t("wb.offered_n", { n: queues.reduce((x, q) => x + q.offered, 0) })),
    tile("oldest", "wb.oldest", h("span", { dataset: { since: String(board.fetchedAt), base: String(oldest) } }, clock(oldest))),
    tile("service-level", "wb.service_level", percent(current.serviceLevel), t("wb.this_interval"), slTone),
    tile("abandon", "wb.abandon_rate", percent(current.abandonRate), t("wb.this_interval"), current.abandonRate > 10 ? "bad" : ""),
    tile("asa", "wb.asa", current.asa === null ? "—" : `${number(current.asa, 1)} s`, t("wb.this_interval")),
    tile("available", "wb.available", number(counts.available), t("wb.busy_away", { busy: counts.busy + counts.wrap_up, away: counts.away })),
    tile("csat", "wb.csat", percent(s?.satisfied_pct, 0), t("wb.today_answers", { n: s?.csat_answers ?? 0 })),
    tile("nps", "wb.nps", s?.nps === null || s?.nps === undefined ? "—" : number(s.nps, 0), t("wb.today")),
    tile("fcr", "wb.fcr", percent(s?.fcr_pct, 0), t("wb.today")),
  );
}

function drawQueues() {
  const body = document.getElementById("queues-body");
  const queues = board.queue?.queues || [];
  if (!queues.length) {
    replace(body, h("p", { class: "empty" }, t("wb.no_queue")), errorNote("queue"));
    return;
  }
  replace(
    body,
    h(
      "table",
      { class: "grid", id: "queue-table" },
      h("caption", { class: "sr-only" }, t("wb.queues")),
      h("thead", {}, h("tr", {}, ["wb.pool", "wb.channel", "wb.waiting", "wb.offered", "wb.oldest"].map((k) => h("th", { scope: "col" }, t(k))))),
      h(
        "tbody",
        {},
        queues.map((q) =>
          h(
            "tr",
            { dataset: { pool: q.pool, channel: q.channel } },
            h("td", {}, q.pool),
            h("td", {}, label("channel", q.channel)),
            h("td", { class: "num waiting" }, number(q.waiting)),
            h("td", { class: "num" }, number(q.offered)),
            h("td", { class: "num" }, h("span", { dataset: { since: String(board.fetchedAt), base: String(q.oldest_s) } }, clock(q.oldest_s))),
          ),
        ),
      ),
    ),
    errorNote("queue"),
  );
}

function drawCharts() {
  const intervals = byInterval();
  const counts = presenceCounts();
  const depthLabel = t("wb.chart_depth", { n: board.queue?.waiting ?? 0 });
  const slLabel = t("wb.chart_sl");
  replace(
    document.getElementById("charts-body"),
    h("figure", {}, line(board.depth, { label: depthLabel, width: 360 }), h("figcaption", {}, depthLabel)),
    h(
      "figure",
      {},
      bars(
        intervals.map((i) => ({ label: hm(i.at), value: i.serviceLevel === null ? null : Math.round(i.serviceLevel) })),
        { label: slLabel, width: 360, goal: 80 },
      ),
      h("figcaption", {}, slLabel),
    ),
    h(
      "figure",
      {},
      split(STATES.map((s) => ({ value: counts[s] || 0, cls: s })), { label: t("wb.chart_states"), width: 360 }),
      h(
        "figcaption",
        { class: "legend" },
        STATES.map((s) => h("span", { class: `key ${s}` }, `${label("presence", s)} ${counts[s] || 0}`)),
      ),
    ),
  );
}

function drawAgents() {
  const body = document.getElementById("agents-body");
  const agents = board.agents.filter((a) => a.active);
  if (!agents.length) {
    replace(body, h("p", { class: "empty" }, t("wb.no_agents")), errorNote("agents"));
    return;
  }
  const order = (a) => STATES.indexOf(a.presence);
  replace(
    body,
    h(
      "table",
      { class: "grid", id: "agents-table" },
      h("caption", { class: "sr-only" }, t("wb.agents")),
      h("thead", {}, h("tr", {}, ["wb.agent", "wb.team", "wb.state", "wb.in_state", "wb.load"].map((k) => h("th", { scope: "col" }, t(k))))),
      h(
        "tbody",
        {},
        [...agents]
          .sort((a, b) => order(a) - order(b) || a.agent_id.localeCompare(b.agent_id))
          .map((a) => {
            const load = Object.entries(a.load)
              .filter(([, n]) => n > 0)
              .map(([ch, n]) => `${label("channel", ch)} ${n}/${a.capacity[ch] ?? "?"}`)
              .join(", ");
            return h(
              "tr",
              { dataset: { agentId: a.agent_id, presence: a.presence } },
              h("td", {}, a.display_name, h("small", {}, ` ${a.agent_id}`)),
              h("td", {}, a.team || "—"),
              h("td", {}, h("span", { class: `presence ${a.presence}` }, label("presence", a.presence)), a.desktop_connected ? "" : h("small", {}, ` · ${t("wb.disconnected")}`)),
              h("td", { class: "num" }, h("span", { dataset: { since: String(Date.parse(a.presence_at)), base: "0" } }, "")),
              h("td", {}, load || "—"),
            );
          }),
      ),
    ),
    errorNote("agents"),
  );
  tick();
}

function drawRisk() {
  const body = document.getElementById("risk-body");
  const breached = board.risk.filter((r) => r.breached);
  const atRisk = board.risk.filter((r) => !r.breached);
  const row = (r) => {
    const warned = r.levels_fired.includes("warning");
    return h(
      "li",
      { class: `risk ${r.breached ? "bad" : warned ? "warn" : ""}`, dataset: { contactId: r.contact_id, clock: r.clock } },
      h("span", { class: "ref" }, `#${r.contact_id.slice(0, 8).toUpperCase()}`),
      " ",
      label("clock", r.clock),
      " · ",
      label("channel", r.channel),
      " · ",
      label("grade", r.grade),
      r.agent_id ? ` · ${r.agent_id}` : "",
      " ",
      h("strong", { class: "left", dataset: { due: r.due_at } }, clock(r.remaining_s)),
      warned && !r.breached ? h("span", { class: "chip warn" }, t("sla.warning")) : null,
      r.breached ? h("span", { class: "chip bad" }, t("sla.breached")) : null,
    );
  };
  replace(
    body,
    h("h3", {}, t("wb.breached"), ` (${breached.length})`),
    breached.length ? h("ul", { class: "plain risk-list", id: "breached" }, breached.map(row)) : h("p", { class: "empty" }, t("wb.none")),
    h("h3", {}, t("wb.at_risk"), ` (${atRisk.length})`),
    atRisk.length ? h("ul", { class: "plain risk-list", id: "at-risk" }, atRisk.slice(0, 15).map(row)) : h("p", { class: "empty" }, t("wb.none")),
    errorNote("risk"),
  );
}

function drawEscalations() {
  const body = document.getElementById("esc-body");
  replace(
    body,
    board.escalations.length
      ? h(
          "ul",
          { class: "alerts" },
          board.escalations.map((e) =>
            h(
              "li",
              { class: "alert bad" },
              h("time", {}, time(e.at)),
              " ",
              t("wb.escalation_line", { level: e.level, clock: label("clock", e.row.clock), ref: e.row.contact_id.slice(0, 8).toUpperCase() }),
              e.row.agent_id ? ` · ${e.row.agent_id}` : "",
            ),
          ),
        )
      : h("p", { class: "empty" }, t("wb.no_escalations")),
  );
}

function drawSupervisorQueue() {
  const body = document.getElementById("sq-body");
  const items = board.queue?.supervisor_queue || [];
  const canAssign = ["supervisor", "admin"].includes(board.session.role);
  if (!items.length) {
    replace(body, h("p", { class: "empty" }, t("wb.sq_empty")));
    return;
  }
  const available = board.agents.filter((a) => a.active && a.desktop_connected && a.presence !== "offline");
  replace(
    body,
    h(
      "ul",
      { class: "plain sq" },
      items.map((w) => {
        const id = `assign-${w.work_id}`;
        return h(
          "li",
          { dataset: { workId: w.work_id } },
          h("div", {}, h("span", { class: "ref" }, `#${w.contact_id.slice(0, 8).toUpperCase()}`), " ", label("channel", w.channel), " · ", label("class", w.work_class), " · ", label("grade", w.grade), " · ", t("wb.waited", { t: clock(w.waited_s) })),
          canAssign
            ? h(
                "form",
                { class: "inline", onsubmit: (e) => { e.preventDefault(); assign(w, e.target.elements.agent.value); } },
                h("label", { for: id }, t("wb.assign_to")),
                h("select", { id, name: "agent" }, available.map((a) => h("option", { value: a.agent_id }, `${a.display_name} (${label("presence", a.presence)})`))),
                h("button", { type: "submit", disabled: !available.length }, t("wb.assign")),
              )
            : null,
        );
      }),
    ),
  );
}

async function assign(work, agentId) {
  if (!agentId) return;
  try {
    await post(svc("routing", `/work/${work.work_id}/assign`), { agent_id: agentId, reason: "assigned from the wallboard" });
    toast(t("wb.assigned", { agent: agentId }), "ok");
    poll();
  } catch (error) {
    toast(`${t("wb.assign_failed")}: ${error.message}`, "error");
  }
}

function errorNote(name) {
  return board.errors[name] ? h("p", { class: "form-error" }, t("wb.unavailable"), `: ${board.errors[name]}`) : null;
}

/** Live clocks between polls: waits grow, countdowns shrink. */
function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll("[data-since]")) {
    el.textContent = clock(Number(el.dataset.base) + (now - Number(el.dataset.since)) / 1000);
  }
  for (const el of document.querySelectorAll("[data-due]")) {
    el.textContent = clock((Date.parse(el.dataset.due) - now) / 1000);
  }
}

async function main() {
  board.session = await start("/wallboard");
  onLanguage(draw);
  draw();
  const every = Math.max(1, board.session.wallboard_poll_s) * 1000;
  const loop = async () => {
    try {
      await poll();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
    }
    setTimeout(loop, every);
  };
  loop();
  pollSatisfaction();
  setInterval(pollSatisfaction, 30000);
  setInterval(tick, 1000);
}

main().catch((error) => {
  if (!(error instanceof ApiError && error.status === 401)) document.body.prepend(h("p", { class: "fatal" }, String(error)));
});
