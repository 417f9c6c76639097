// The agent workspace: presence, offers with their countdown, my work, callbacks and alerts on the left; the
// conversation in the middle; SLA clocks, the customer and knowledge on the right. Live state comes from the
// desktop socket; what an agent does goes over REST (or the socket, for accept, decline and presence).

import { ApiError, get, post, svc } from "./api.js";
import { closeDialog, openPending, openResolve, openTransfer } from "./actions.js";
import { Conversation } from "./conversation.js";
import { Desk } from "./desk.js";
import { clock, h, replace, toast, typing } from "./dom.js";
import { label, onLanguage, t, time } from "./i18n.js";
import { start } from "./shell.js";
import { Side } from "./side.js";

const ALLOWED = {
  start: ["assigned"],
  pending: ["assigned", "in_progress"],
  resume: ["pending_customer", "pending_department"],
  transfer: ["assigned", "in_progress", "pending_customer", "pending_department"],
  resolve: ["assigned", "in_progress", "pending_customer", "pending_department", "wrap_up"],
  close: ["resolved"],
  notify: ["resolved"],
};
const DONE = new Set(["closed"]);

const state = {
  session: null,
  presence: "offline",
  connection: "connecting",
  offers: new Map(),
  work: new Map(),
  details: new Map(),
  suggestions: new Map(),
  alerts: [],
  selected: null,
  selectOnAssign: null,
};

/** What the benchmark and the browser tests read: when each offer reached the screen. */
const measured = (window.__switchboard = { offers: [], connected: false });

export function allowed(work, action) {
  return Boolean(work) && (ALLOWED[action] || []).includes(work.state);
}

const desk = new Desk({ onMessage: receive, onState: connectionChanged });
let conversation;
let side;

// --- the socket's messages ------------------------------------------------------------------------------------

function receive(message, arrived) {
  switch (message.type) {
    case "hello":
      state.presence = message.presence;
      state.offers.clear();
      state.work = new Map(message.work.map((w) => [w.work_id, w]));
      for (const offer of message.offers) loadOffer(offer);
      renderPresence();
      renderWork();
      renderOffers();
      if (state.selected && !state.work.has(state.selected)) select(null);
      if (!state.selected && state.work.size) select(firstWork());
      break;
    case "offer":
      state.offers.set(message.offer_id, message);
      renderOffers();
      onScreen(message, arrived);
      break;
    case "offer_closed":
      if (state.offers.delete(message.offer_id)) renderOffers();
      if (message.status === "expired") alert("alert.offer_missed", {}, null, "warn");
      if (message.status === "withdrawn") alert("alert.offer_withdrawn", {}, null, "info");
      break;
    case "assigned":
      upsertWork(message.work);
      state.details.set(message.work.contact_id, message.contact || {});
      if (message.contact && Array.isArray(message.contact.suggestions) && message.contact.suggestions.length) {
        state.suggestions.set(message.work.contact_id, message.contact.suggestions);
      }
      if (state.selectOnAssign === message.work.work_id || !state.selected) select(message.work.work_id);
      break;
    case "work_updated":
      if (message.action === "transferred_away" || DONE.has(message.work.state)) {
        state.work.delete(message.work.work_id);
        renderWork();
        if (state.selected === message.work.work_id) select(firstWork());
      } else {
        upsertWork(message.work);
      }
      break;
    case "message":
      if (selectedWork()?.contact_id === message.contact_id) conversation.refresh();
      else alert("alert.customer_wrote", {}, message.contact_id, "info");
      break;
    case "suggestion":
      state.suggestions.set(message.contact_id, message.articles);
      if (selectedWork()?.contact_id === message.contact_id) side.renderSuggestions(message.articles);
      break;
    case "sla":
      slaAlert(message);
      break;
    case "presence":
      state.presence = message.presence;
      renderPresence();
      break;
    case "escalation":
      alert("alert.escalation", { level: message.level, clock: ["clock", message.clock] }, message.contact_id, "bad");
      break;
    case "delivery_failed":
      alert("alert.delivery_failed", { channel: ["channel", message.channel] }, message.contact_id, "bad");
      break;
    case "alert":
      alert("alert.emergency", {}, message.work?.contact_id, "bad");
      break;
    case "notice":
      alert("alert.notice", { kind: ["notice", message.kind] }, null, "info");
      break;
    default:
      break;
  }
}

function onScreen(message, arrived) {
  requestAnimationFrame(() => {
    const shown = performance.timeOrigin + performance.now();
    const committed = Date.parse(message.at);
    measured.offers.push({
      offer_id: message.offer_id,
      contact_id: message.work.contact_id,
      shown_at: shown,
      latency_ms: Number.isNaN(committed) ? null : shown - committed,
      socket_to_screen_ms: performance.now() - arrived,
    });
  });
}

async function loadOffer(brief) {
  try {
    const detail = await get(svc("routing", `/work/${brief.work_id}`));
    state.offers.set(brief.offer_id, { ...brief, work: detail.work, contact: {} });
    renderOffers();
  } catch (error) {
    state.offers.set(brief.offer_id, { ...brief, work: { work_id: brief.work_id }, contact: {} });
  }
}

function slaAlert(message) {
  const work = state.work.get(message.work_id);
  if (work && message.kind !== "met") {
    upsertWork({ ...work, sla_warned: true, escalation_level: Math.max(work.escalation_level || 0, message.level || 0) });
  }
  const kind = message.kind === "breached" ? "bad" : "warn";
  alert(`alert.sla_${message.kind}`, { clock: ["clock", message.clock] }, message.contact_id, kind, "sla");
  if (selectedWork()?.contact_id === message.contact_id) side.refreshClocks();
}

function connectionChanged(connection) {
  state.connection = connection;
  measured.connected = connection === "connected";
  renderPresence();
  const banner = document.getElementById("banner");
  const text = { replaced: t("ws.replaced"), no_agent: t("ws.no_agent"), reconnecting: t("ws.reconnecting") }[connection];
  banner.hidden = !text;
  replace(
    banner,
    text || "",
    connection === "replaced" ? h("button", { type: "button", onclick: () => desk.reclaim() }, t("ws.use_here")) : null,
  );
}

// --- state helpers --------------------------------------------------------------------------------------------

function upsertWork(work) {
  state.work.set(work.work_id, { ...(state.work.get(work.work_id) || {}), ...work });
  renderWork();
  if (state.selected === work.work_id) {
    conversation.update(state.work.get(work.work_id));
  }
}

function selectedWork() {
  return state.selected ? state.work.get(state.selected) : null;
}

function firstWork() {
  const open = [...state.work.values()].filter((w) => !DONE.has(w.state));
  return open.length ? open[0].work_id : null;
}

function select(workId) {
  state.selected = workId;
  state.selectOnAssign = null;
  renderWork();
  const work = selectedWork();
  const details = work ? state.details.get(work.contact_id) || null : null;
  conversation.show(work, details);
  side.show(work, details, work ? state.suggestions.get(work.contact_id) : null);
}

/** An alert kept as its text key and values, so it reads in whatever language is chosen later; `[prefix, value]`
 * values are labels (`["clock", "first_response"]`). */
function alert(key, vars, contactId, kind = "info", tag = "") {
  state.alerts.unshift({ key, vars, contactId, kind, tag, at: new Date() });
  state.alerts = state.alerts.slice(0, 30);
  renderAlerts();
  toast(alertText(state.alerts[0]), kind === "bad" ? "error" : kind);
}

function alertText(entry) {
  const vars = Object.fromEntries(
    Object.entries(entry.vars).map(([name, value]) => [name, Array.isArray(value) ? label(...value) : value]),
  );
  return t(entry.key, vars);
}

// --- drawing ---------------------------------------------------------------------------------------------------

function renderPresence() {
  const slot = document.getElementById("bar-slot");
  if (!slot) return;
  const select = h(
    "select",
    {
      id: "presence",
      disabled: state.connection !== "connected",
      onchange: (e) => setPresence(e.target.value),
    },
    ["available", "away", "offline"].map((p) =>
      h("option", { value: p, selected: state.presence === p }, label("presence", p)),
    ),
  );
  replace(
    slot,
    h("label", { for: "presence" }, t("ws.presence")),
    select,
    h("span", { class: `conn ${state.connection}`, id: "connection", role: "status" }, label("connection", state.connection)),
  );
}

async function setPresence(presence) {
  try {
    const answer = await desk.request("presence", { presence });
    state.presence = answer.presence;
  } catch (error) {
    toast(`${t("ws.presence_failed")}: ${error.message}`, "error");
  }
  renderPresence();
}

function renderOffers() {
  const list = document.getElementById("offers-list");
  const offers = [...state.offers.values()];
  if (!offers.length) {
    replace(list, h("p", { class: "empty" }, t("ws.no_offers")));
    return;
  }
  replace(
    list,
    offers.map((offer, index) => {
      const work = offer.work || {};
      const contact = offer.contact || {};
      const hint = index === 0 ? h("p", { class: "keys" }, t("ws.offer_keys")) : null;
      return h(
        "article",
        { class: `offer grade-${work.grade || "basic"}`, dataset: { offerId: offer.offer_id }, role: "group", "aria-label": t("ws.offer") },
        h(
          "div",
          { class: "chips" },
          h("span", { class: "chip" }, label("channel", work.channel)),
          h("span", { class: `chip grade ${work.grade}` }, label("grade", work.grade)),
          h("span", { class: "chip" }, label("category", contact.category || work.category)),
          contact.emergency ? h("span", { class: "chip bad" }, t("ws.emergency")) : null,
        ),
        h("p", { class: "subject" }, contact.subject || t("ws.no_subject")),
        h(
          "div",
          { class: "countdown" },
          h("progress", { max: offer.timeout_s || 20, value: offer.timeout_s || 20, dataset: { expires: offer.expires_at } }),
          h("span", { class: "secs", dataset: { due: offer.expires_at, kind: "offer" } }, ""),
        ),
        h(
          "div",
          { class: "buttons" },
          h("button", { type: "button", class: "primary accept", onclick: () => accept(offer) }, t("ws.accept")),
          h("button", { type: "button", class: "decline", onclick: () => decline(offer) }, t("ws.decline")),
        ),
        hint,
      );
    }),
  );
  tick();
}

async function accept(offer) {
  state.selectOnAssign = offer.work?.work_id || null;
  try {
    const answer = await desk.request("accept", { offer_id: offer.offer_id });
    state.selectOnAssign = answer.work_id;
    state.offers.delete(offer.offer_id);
    renderOffers();
  } catch (error) {
    toast(`${t("ws.accept_failed")}: ${error.message}`, "error");
  }
}

async function decline(offer) {
  try {
    await desk.request("decline", { offer_id: offer.offer_id, reason: "declined at the desk" });
    state.offers.delete(offer.offer_id);
    renderOffers();
  } catch (error) {
    toast(`${t("ws.decline_failed")}: ${error.message}`, "error");
  }
}

function renderWork() {
  const list = document.getElementById("work-list");
  const works = [...state.work.values()].filter((w) => !DONE.has(w.state));
  if (!works.length) {
    replace(list, h("p", { class: "empty" }, t("ws.no_work")));
  } else {
    replace(
      list,
      h(
        "ul",
        { class: "work-list" },
        works.map((work) => {
          const details = state.details.get(work.contact_id) || {};
          const sla = work.escalation_level > 0 ? "bad" : work.sla_warned ? "warn" : "";
          return h(
            "li",
            {},
            h(
              "button",
              {
                type: "button",
                class: `work-item ${sla}`,
                "aria-current": state.selected === work.work_id ? "true" : null,
                onclick: () => select(work.work_id),
              },
              h("span", { class: "chip" }, label("channel", work.channel)),
              h("span", { class: "title" }, details.subject || (details.text || "").slice(0, 40) || label("category", work.category)),
              h("span", { class: `state ${work.state}` }, label("state", work.state)),
              sla ? h("span", { class: `dot ${sla}`, "aria-label": t(sla === "bad" ? "sla.breached" : "sla.warning") }) : null,
            ),
          );
        }),
      ),
    );
  }
  renderCallbacks();
}

function renderCallbacks() {
  const list = document.getElementById("callback-list");
  const calls = [...state.work.values()].filter((w) => w.callback && !DONE.has(w.state) && w.state !== "resolved");
  if (!calls.length) {
    replace(list, h("p", { class: "empty" }, t("ws.no_callbacks")));
    return;
  }
  replace(
    list,
    h(
      "ul",
      { class: "plain" },
      calls.map((work) => {
        const phone = (state.details.get(work.contact_id) || {}).callback_phone || work.callback.phone;
        return h(
          "li",
          {},
          h("a", { href: `tel:${phone}` }, phone),
          " · ",
          label("callback", work.callback.mode),
          " · ",
          t("ws.attempts", { n: work.callback.attempts }),
          " ",
          h("button", { type: "button", class: "link", onclick: () => select(work.work_id) }, t("ws.open")),
        );
      }),
    ),
  );
}

function renderAlerts() {
  const list = document.getElementById("alert-list");
  if (!state.alerts.length) {
    replace(list, h("p", { class: "empty" }, t("ws.no_alerts")));
    return;
  }
  replace(
    list,
    h(
      "ul",
      { class: "alerts" },
      state.alerts.map((a) =>
        h("li", { class: `alert ${a.kind}`, dataset: { tag: a.tag } }, h("time", {}, time(a.at)), " ", alertText(a)),
      ),
    ),
  );
}

/** Countdowns: offers (seconds left, the bar) and SLA clocks (amber from the warning, red from the breach). */
function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll("[data-due]")) {
    const due = Date.parse(el.dataset.due);
    const left = (due - now) / 1000;
    if (el.dataset.kind === "offer") {
      el.textContent = t("ws.seconds_left", { s: Math.max(0, Math.ceil(left)) });
      continue;
    }
    el.textContent = clock(left);
    const warnAt = el.dataset.warn ? Date.parse(el.dataset.warn) : null;
    const row = el.closest("[data-clock]");
    if (row && row.dataset.state === "running") {
      const level = left <= 0 || row.dataset.breached === "true" ? "bad" : (warnAt && now >= warnAt) || row.dataset.warned === "true" ? "warn" : "ok";
      row.classList.toggle("bad", level === "bad");
      row.classList.toggle("warn", level === "warn");
    }
  }
  for (const bar of document.querySelectorAll("progress[data-expires]")) {
    bar.value = Math.max(0, (Date.parse(bar.dataset.expires) - now) / 1000);
  }
}

// --- work actions (REST) ---------------------------------------------------------------------------------------

async function act(work, action, body = {}) {
  try {
    const answer = await post(svc("routing", `/work/${work.work_id}/${action}`), body);
    if (DONE.has(answer.work.state)) {
      state.work.delete(work.work_id);
      renderWork();
      select(firstWork());
    } else {
      upsertWork(answer.work);
    }
    toast(t(`done.${action}`), "ok");
    return answer;
  } catch (error) {
    const detail = error instanceof ApiError ? error.message : String(error);
    toast(`${t("ws.action_failed", { action: label("action", action) })}: ${detail}`, "error");
    return null;
  }
}

async function onAction(action, work) {
  if (action === "pending") {
    const body = await openPending(work);
    if (body) await act(work, "pending", body);
  } else if (action === "transfer") {
    const body = await openTransfer(work);
    if (body) await act(work, "transfer", body);
  } else if (action === "resolve") {
    const body = await openResolve(work);
    if (body) await act(work, "resolve", body);
  } else if (action === "notify") {
    await act(work, "notify", { sent_elsewhere: false });
  } else {
    await act(work, action, action === "start" ? undefined : {});
  }
}

// --- keyboard ------------------------------------------------------------------------------------------------

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event) || document.querySelector("dialog[open]")) return;
  const first = [...state.offers.values()][0];
  const key = event.key.toLowerCase();
  if (first && key === "a") {
    event.preventDefault();
    accept(first);
  } else if (first && key === "d") {
    event.preventDefault();
    decline(first);
  } else if (key === "j" || key === "k") {
    const ids = [...state.work.values()].filter((w) => !DONE.has(w.state)).map((w) => w.work_id);
    if (!ids.length) return;
    const at = ids.indexOf(state.selected);
    select(ids[(at + (key === "j" ? 1 : -1) + ids.length) % ids.length]);
  } else if (key === "r") {
    event.preventDefault();
    conversation.focusComposer();
  }
}

// --- start ------------------------------------------------------------------------------------------------------

async function main() {
  state.session = await start("/workspace");
  const context = { state, allowed, onAction, refreshWork: (w) => upsertWork(w), alert };
  conversation = new Conversation(document.getElementById("conversation"), context);
  side = new Side(
    {
      clocks: document.getElementById("sla-clocks"),
      customer: document.getElementById("customer-body"),
      knowledge: document.getElementById("knowledge-body"),
    },
    { ...context, insert: (text, source) => conversation.insert(text, source) },
  );
  renderPresence();
  renderOffers();
  renderWork();
  renderAlerts();
  select(null);
  onLanguage(() => {
    closeDialog();
    renderPresence();
    renderOffers();
    renderWork();
    renderAlerts();
    conversation.redraw();
    side.redraw();
  });
  document.addEventListener("keydown", onKey);
  setInterval(tick, 500);
  desk.connect();
}

main().catch((error) => {
  if (!(error instanceof ApiError && error.status === 401)) {
    document.body.prepend(h("p", { class: "fatal" }, String(error)));
  }
});
