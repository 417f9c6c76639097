// The selected contact: its header and the work's actions, the timeline (messages, replies with delivery, notes,
// routing, SLA and survey steps) and the composer, which fits the channel (SMS and chat lengths, e-mail subject)
// and takes canned responses and knowledge articles.

import { get, getSoon, post, svc } from "./api.js";
import { h, replace, toast } from "./dom.js";
import { dateTime, label, t, time } from "./i18n.js";

const LIMITS = { email: 100000, chat: 10000, sms: 1000, social: 2000 };
const ACTIONS = ["start", "pending", "resume", "transfer", "resolve", "close", "notify"];

/** Where a reply goes on this contact: its own channel, or (a call, a form, a walk-in) SMS or e-mail. */
export function replyChannel(contactChannel, chosen) {
  if (["email", "chat", "sms", "social"].includes(contactChannel)) return contactChannel;
  return chosen || "sms";
}

export class Conversation {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.work = null;
    this.details = null;
    this.contact = null;
    this.entries = [];
    this.mode = "reply";
    this.source = {};
    this.text = "";
    this.loading = 0;
  }

  show(work, details) {
    const same = work && this.work && work.work_id === this.work.work_id;
    this.work = work;
    this.details = details;
    if (!same) {
      this.contact = null;
      this.entries = [];
      this.source = {};
      this.text = "";
      this.mode = "reply";
    }
    this.draw();
    if (work && !same) {
      this.loadContact();
      this.refresh();
    }
  }

  update(work) {
    this.work = work;
    this.drawHeader();
  }

  redraw() {
    this.keepText();
    this.draw();
  }

  keepText() {
    const area = this.root.querySelector("#composer-text");
    if (area) this.text = area.value;
  }

  async loadContact() {
    const contactId = this.work.contact_id;
    try {
      const contact = await getSoon(svc("intake", `/contacts/${contactId}`));
      if (this.work?.contact_id === contactId) {
        this.contact = contact;
        this.keepText();
        this.draw();
      }
    } catch (error) {
      this.contact = null;
    }
  }

  async refresh() {
    if (!this.work) return;
    const contactId = this.work.contact_id;
    this.loading += 1;
    try {
      const page = await getSoon(svc("intake", `/contacts/${contactId}/timeline`, { limit: 300 }));
      if (this.work?.contact_id === contactId) {
        this.entries = page.entries;
        this.drawTimeline();
      }
    } catch (error) {
      if (this.work?.contact_id === contactId) toast(`${t("conv.timeline_failed")}: ${error.message}`, "error");
    } finally {
      this.loading -= 1;
    }
  }

  channel() {
    const channel = this.contact?.channel || this.details?.channel || this.work?.channel;
    return replyChannel(channel, this.root.querySelector("#composer-channel")?.value);
  }

  // --- drawing ----------------------------------------------------------------------------------------------

  draw() {
    if (!this.work) {
      replace(
        this.root,
        h("h2", { id: "conversation-title" }, t("conv.title")),
        h("p", { class: "empty big" }, t("conv.nothing_selected")),
        h("p", { class: "keys" }, t("conv.keys")),
      );
      return;
    }
    replace(
      this.root,
      h("header", { class: "conv-head", id: "conv-head" }),
      h("ol", { class: "timeline", id: "timeline", "aria-label": t("conv.timeline"), "aria-live": "polite" }),
      this.composer(),
    );
    this.drawHeader();
    this.drawTimeline();
  }

  drawHeader() {
    const head = this.root.querySelector("#conv-head");
    if (!head || !this.work) return;
    const work = this.work;
    const first = this.contact?.messages?.[0]?.text || this.details?.text || "";
    const preview = first.length > 60 ? `${first.slice(0, 60)}…` : first;
    const subject = this.contact?.subject || this.details?.subject || preview || label("category", work.category);
    const actions = ACTIONS.filter((a) => this.ctx.allowed(work, a));
    replace(
      head,
      h("h2", { id: "conversation-title" }, subject || t("ws.no_subject")),
      h(
        "div",
        { class: "chips" },
        h("span", { class: "chip" }, label("channel", work.channel)),
        h("span", { class: `chip grade ${work.grade}` }, label("grade", work.grade)),
        h("span", { class: "chip" }, label("category", work.category)),
        h("span", { class: "chip" }, label("class", work.work_class)),
        h("span", { class: `chip state ${work.state}`, id: "work-state" }, label("state", work.state)),
        work.pending_department
          ? h("span", { class: "chip warn" }, t("conv.pending_on", { department: work.pending_department, until: work.pending_until ? dateTime(work.pending_until) : "—" }))
          : null,
        work.first_owner_id && work.first_owner_id !== work.owner_id
          ? h("span", { class: "chip" }, t("conv.first_owner", { agent: work.first_owner_id }))
          : null,
        h("span", { class: "ref" }, `#${work.contact_id.slice(0, 8).toUpperCase()}`),
      ),
      h(
        "div",
        { class: "actions", role: "toolbar", "aria-label": t("conv.actions") },
        actions.map((action) =>
          h(
            "button",
            {
              type: "button",
              class: action === "resolve" ? "primary" : "",
              dataset: { action },
              onclick: () => this.ctx.onAction(action, this.work),
            },
            label("action", action),
          ),
        ),
        work.state === "resolved" ? this.clears(work) : null,
      ),
    );
  }

  clears(work) {
    const items = [
      ["conv.clear_code", Boolean(work.resolution_code)],
      ["conv.clear_note", Boolean(work.resolution_code)],
      ["conv.clear_notified", Boolean(work.customer_notified)],
    ];
    return h(
      "ul",
      { class: "clears", "aria-label": t("conv.three_clears") },
      items.map(([key, ok]) => h("li", { class: ok ? "ok" : "missing" }, `${ok ? "✓" : "○"} ${t(key)}`)),
    );
  }

  drawTimeline() {
    const list = this.root.querySelector("#timeline");
    if (!list) return;
    if (!this.entries.length) {
      replace(list, h("li", { class: "empty" }, this.loading ? t("conv.loading") : t("conv.no_entries")));
      return;
    }
    replace(list, this.entries.map((entry) => this.entry(entry)));
    list.scrollTop = list.scrollHeight;
  }

  entry(entry) {
    const at = h("time", { datetime: entry.at }, time(entry.at));
    const d = entry.detail || {};
    if (entry.kind === "customer_message") {
      return h(
        "li",
        { class: "msg customer" },
        h("div", { class: "meta" }, d.sender_name || t("conv.customer"), " · ", label("channel", d.channel), " · ", at),
        d.subject ? h("div", { class: "subject" }, d.subject) : null,
        h("div", { class: "text" }, d.text || ""),
        (d.attachments || []).length ? h("div", { class: "meta" }, t("conv.attachments", { n: d.attachments.length })) : null,
      );
    }
    if (entry.kind === "agent_reply") {
      return h(
        "li",
        { class: "msg agent" },
        h(
          "div",
          { class: "meta" },
          entry.actor || "",
          " · ",
          label("channel", d.channel),
          " · ",
          at,
          " ",
          h("span", { class: `chip delivery ${d.delivery}` }, label("delivery", d.delivery)),
          d.solution ? h("span", { class: "chip ok" }, t("conv.solution")) : null,
        ),
        h("div", { class: "text" }, d.text || ""),
      );
    }
    if (entry.kind === "note") {
      return h(
        "li",
        { class: "note" },
        h("div", { class: "meta" }, t("conv.note_by", { who: entry.actor || "" }), " · ", at),
        h("div", { class: "text" }, d.text || ""),
      );
    }
    const tone = entry.kind === "sla_breached" || entry.kind === "sla_escalated" ? "bad" : entry.kind === "sla_warning" ? "warn" : "";
    return h(
      "li",
      { class: `step ${tone}`, dataset: { kind: entry.kind } },
      at,
      " ",
      label("step", entry.kind),
      stepDetail(entry),
    );
  }

  composer() {
    const channel = this.channel();
    const contactChannel = this.contact?.channel || this.work.channel;
    const limit = LIMITS[channel] || 10000;
    const isReply = this.mode === "reply";
    const area = h("textarea", {
      id: "composer-text",
      rows: 5,
      maxlength: isReply ? limit : 20000,
      oninput: () => this.count(),
      onkeydown: (e) => {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          this.send();
        }
      },
    });
    area.value = this.text;
    const tab = (mode, key) =>
      h(
        "button",
        {
          type: "button",
          role: "tab",
          id: `tab-${mode}`,
          "aria-selected": String(this.mode === mode),
          "aria-controls": "composer-panel",
          onclick: () => {
            this.keepText();
            this.mode = mode;
            this.draw();
            this.focusComposer();
          },
        },
        t(key),
      );
    const choose = ["email", "chat", "sms", "social"].includes(contactChannel)
      ? null
      : h(
          "span",
          {},
          h("label", { for: "composer-channel" }, t("conv.send_by")),
          " ",
          h(
            "select",
            { id: "composer-channel", onchange: () => { this.keepText(); this.draw(); } },
            ["sms", "email"].map((c) => h("option", { value: c, selected: c === channel }, label("channel", c))),
          ),
        );
    const subject = channel === "email" ? this.replySubject() : null;
    return h(
      "form",
      { class: "composer", onsubmit: (e) => { e.preventDefault(); this.send(); } },
      h("div", { role: "tablist", "aria-label": t("conv.composer") }, tab("reply", "conv.tab_reply"), tab("note", "conv.tab_note")),
      h(
        "div",
        { id: "composer-panel", role: "tabpanel", "aria-labelledby": `tab-${this.mode}` },
        isReply
          ? h("p", { class: "channel-line" }, t("conv.reply_by", { channel: label("channel", channel) }), subject ? ` · ${t("conv.subject")}: ${subject}` : "", " ", choose)
          : h("p", { class: "channel-line" }, t("conv.note_hint")),
        h("label", { for: "composer-text", class: "sr-only" }, isReply ? t("conv.tab_reply") : t("conv.tab_note")),
        area,
        h(
          "div",
          { class: "composer-tools" },
          isReply ? h("button", { type: "button", id: "canned-toggle", "aria-expanded": "false", "aria-controls": "canned", onclick: () => this.toggleCanned() }, t("conv.canned")) : null,
          isReply ? h("label", { class: "check" }, h("input", { type: "checkbox", id: "composer-solution" }), " ", t("conv.is_solution")) : null,
          h("span", { class: "count", id: "composer-count", "aria-live": "off" }),
          h("button", { type: "submit", class: "primary", id: "composer-send" }, isReply ? t("conv.send") : t("conv.add_note")),
        ),
        this.source.article_id || this.source.canned_response_id ? h("p", { class: "meta" }, t("conv.based_on")) : null,
        isReply ? this.cannedPanel() : null,
      ),
    );
  }

  replySubject() {
    const first = (this.contact?.messages || []).find((m) => m.subject)?.subject || this.contact?.subject || "";
    if (!first) return "";
    return /^(re|回复|回覆)[:：]/i.test(first) ? first : `Re: ${first}`;
  }

  count() {
    const area = this.root.querySelector("#composer-text");
    const out = this.root.querySelector("#composer-count");
    if (!area || !out) return;
    out.textContent = this.mode === "reply" ? `${area.value.length} / ${LIMITS[this.channel()] || 10000}` : String(area.value.length);
  }

  focusComposer() {
    const area = this.root.querySelector("#composer-text");
    if (area) area.focus();
    this.count();
  }

  /** Put text (a canned response, an article) into the reply at the cursor, remembering where it came from. */
  insert(text, source = {}) {
    if (!this.work) return;
    if (this.mode !== "reply") {
      this.keepText();
      this.mode = "reply";
      this.draw();
    }
    const area = this.root.querySelector("#composer-text");
    const at = area.selectionStart ?? area.value.length;
    const before = area.value.slice(0, at);
    const gap = before && !before.endsWith("\n") ? "\n" : "";
    area.value = before + gap + text + area.value.slice(area.selectionEnd ?? at);
    this.source = { ...this.source, ...source };
    this.text = area.value;
    area.focus();
    this.count();
  }

  async send() {
    const area = this.root.querySelector("#composer-text");
    const text = area.value.trim();
    if (!text || !this.work) return;
    const contactId = this.work.contact_id;
    const button = this.root.querySelector("#composer-send");
    button.disabled = true;
    try {
      if (this.mode === "note") {
        await post(svc("intake", `/contacts/${contactId}/notes`), { text });
      } else {
        const contactChannel = this.contact?.channel || this.work.channel;
        const body = { text, solution: this.root.querySelector("#composer-solution")?.checked || false };
        if (!["email", "chat", "sms", "social"].includes(contactChannel)) body.channel = this.channel();
        if (this.source.article_id) body.article_id = this.source.article_id;
        if (this.source.canned_response_id) body.canned_response_id = this.source.canned_response_id;
        await post(svc("intake", `/contacts/${contactId}/replies`), body);
      }
      area.value = "";
      this.text = "";
      this.source = {};
      toast(this.mode === "note" ? t("conv.note_added") : t("conv.sent"), "ok");
      this.count();
      this.refresh();
    } catch (error) {
      toast(`${t("conv.send_failed")}: ${error.message}`, "error");
    } finally {
      button.disabled = false;
    }
  }

  // --- canned responses ----------------------------------------------------------------------------------------

  cannedPanel() {
    return h(
      "div",
      { class: "canned", id: "canned", hidden: true },
      h("label", { for: "canned-q" }, t("conv.canned_find")),
      h("input", { type: "search", id: "canned-q", oninput: (e) => this.findCanned(e.target.value) }),
      h("ul", { class: "plain", id: "canned-results" }),
    );
  }

  toggleCanned() {
    const panel = this.root.querySelector("#canned");
    const button = this.root.querySelector("#canned-toggle");
    panel.hidden = !panel.hidden;
    button.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) {
      this.root.querySelector("#canned-q").focus();
      this.findCanned("");
    }
  }

  async findCanned(q) {
    const list = this.root.querySelector("#canned-results");
    try {
      const found = await get(svc("intake", "/canned-responses", { q }));
      replace(
        list,
        found.length
          ? found.slice(0, 8).map((c) =>
              h("li", {}, h("button", { type: "button", class: "link", onclick: () => this.useCanned(c) }, c.title)),
            )
          : h("li", { class: "empty" }, t("conv.canned_none")),
      );
    } catch (error) {
      replace(list, h("li", { class: "empty" }, error.message));
    }
  }

  async useCanned(canned) {
    try {
      const rendered = await get(
        svc("intake", `/canned-responses/${canned.canned_response_id}/render`, { contact_id: this.work.contact_id }),
      );
      this.insert(rendered.text, { canned_response_id: canned.canned_response_id });
      this.toggleCanned();
    } catch (error) {
      toast(error.message, "error");
    }
  }
}

function stepDetail(entry) {
  const d = entry.detail || {};
  const parts = [];
  if (entry.actor) parts.push(entry.actor);
  if (d.agent_id) parts.push(d.agent_id);
  if (d.to_agent || d.to_team || d.to_department) parts.push(`→ ${d.to_agent || d.to_team || d.to_department}`);
  if (d.clock) parts.push(label("clock", d.clock));
  if (d.resolution_code) parts.push(d.resolution_code);
  if (d.channel && entry.kind.startsWith("outbound_")) parts.push(label("channel", d.channel));
  if (d.delivery) parts.push(label("delivery", d.delivery));
  if (d.csat) parts.push(`CSAT ${d.csat}`);
  const shown = [...new Set(parts)];
  return shown.length ? h("span", { class: "meta" }, ` · ${shown.join(" · ")}`) : null;
}
