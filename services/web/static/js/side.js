// Beside the conversation: the contact's SLA clocks with live countdowns (amber from the warning, red from the
// breach), the customer (grade, identities — masked until asked for — and earlier contacts) and knowledge (the
// suggestions pushed with the contact, and a search whose article goes into the reply).

import { get, getSoon, svc } from "./api.js";
import { h, replace, toast } from "./dom.js";
import { dateTime, label, t } from "./i18n.js";

const INSERT_WHOLE_UP_TO = 1500;

export function mask(value) {
  const text = String(value || "");
  if (text.includes("@")) {
    const [name, domain] = text.split("@");
    return `${name.slice(0, 1)}***@${domain}`;
  }
  return text.length > 6 ? `${text.slice(0, 3)}****${text.slice(-2)}` : "****";
}

export class Side {
  constructor(els, ctx) {
    this.els = els;
    this.ctx = ctx;
    this.work = null;
    this.clocks = [];
    this.customer = null;
    this.history = [];
    this.suggestions = null;
    this.results = null;
    this.reveal = false;
    this.timer = null;
  }

  show(work, details, suggestions) {
    const changed = (work && work.contact_id) !== (this.work && this.work.contact_id);
    this.work = work;
    if (changed) {
      this.clocks = [];
      this.customer = null;
      this.history = [];
      this.results = null;
      this.reveal = false;
      this.suggestions = suggestions || null;
    }
    this.redraw();
    clearInterval(this.timer);
    if (work && changed) {
      this.refreshClocks();
      this.loadCustomer(details);
      if (!this.suggestions) this.related(details);
      this.timer = setInterval(() => this.refreshClocks(), 30000);
    }
  }

  redraw() {
    this.drawClocks();
    this.drawCustomer();
    this.drawKnowledge();
  }

  // --- SLA clocks ----------------------------------------------------------------------------------------------

  async refreshClocks() {
    if (!this.work) return;
    const contactId = this.work.contact_id;
    try {
      const answer = await getSoon(svc("sla", `/sla/contacts/${contactId}`));
      if (this.work?.contact_id === contactId) {
        this.clocks = answer.clocks;
        this.drawClocks();
      }
    } catch (error) {
      if (error.status !== 404) toast(`${t("sla.failed")}: ${error.message}`, "error");
    }
  }

  drawClocks() {
    const box = this.els.clocks;
    if (!this.work) {
      replace(box, h("p", { class: "empty" }, t("sla.none")));
      return;
    }
    if (!this.clocks.length) {
      replace(box, h("p", { class: "empty" }, t("sla.none")));
      return;
    }
    replace(
      box,
      h(
        "ul",
        { class: "clocks" },
        this.clocks.map((c) => {
          const warning = (c.upcoming || []).find((u) => u.kind === "warning");
          const fired = (c.fired || []).map((f) => f.alert);
          const running = c.state === "running";
          const breached = Boolean(c.breached_at) || fired.includes("breach");
          const tone = running ? (breached ? "bad" : fired.includes("warning") ? "warn" : "") : c.state === "missed" ? "bad" : "";
          return h(
            "li",
            {
              class: `clock ${tone}`,
              dataset: {
                clock: c.clock,
                state: c.state,
                warned: String(fired.includes("warning")),
                breached: String(breached),
              },
            },
            h("span", { class: "name" }, label("clock", c.clock)),
            running && c.due_at
              ? h("span", { class: "left", dataset: { due: c.due_at, warn: warning ? warning.due_at : "" } }, "")
              : h("span", { class: "left" }, label("clock_state", c.state)),
            h(
              "span",
              { class: "status" },
              running ? (breached ? t("sla.breached") : fired.includes("warning") ? t("sla.warning") : t("sla.running")) : "",
            ),
          );
        }),
      ),
    );
  }

  // --- the customer --------------------------------------------------------------------------------------------

  async loadCustomer(details) {
    const contactId = this.work.contact_id;
    try {
      let customerId = details?.customer_id;
      if (!customerId) customerId = (await getSoon(svc("intake", `/contacts/${contactId}`))).customer.customer_id;
      const [customer, history] = await Promise.all([
        get(svc("intake", `/customers/${customerId}`)),
        getSoon(svc("intake", `/customers/${customerId}/contacts`, { limit: 10 })).catch(() => ({ contacts: [] })),
      ]);
      if (this.work?.contact_id === contactId) {
        this.customer = customer;
        this.history = history.contacts.filter((c) => c.contact_id !== contactId);
        this.drawCustomer();
      }
    } catch (error) {
      if (this.work?.contact_id === contactId) {
        replace(this.els.customer, h("p", { class: "empty" }, `${t("customer.failed")}: ${error.message}`));
      }
    }
  }

  drawCustomer() {
    const box = this.els.customer;
    const c = this.customer;
    if (!this.work || !c) {
      replace(box, h("p", { class: "empty" }, this.work ? t("conv.loading") : t("customer.none")));
      return;
    }
    const important = c.pii_level === "important";
    const shown = (value) => (this.reveal || !important ? value : mask(value));
    replace(
      box,
      h("p", { class: "customer-name" }, c.name || t("customer.unnamed"), " ", h("span", { class: `chip grade ${c.grade}` }, label("grade", c.grade))),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, t("customer.value")),
        h("dd", {}, label("tier", c.value_tier) || "—"),
        h("dt", {}, t("customer.risk")),
        h("dd", {}, label("risk", c.risk_level) || "—"),
        h("dt", {}, t("customer.pii")),
        h("dd", {}, label("pii", c.pii_level) || "—"),
      ),
      h("h3", {}, t("customer.identities")),
      h(
        "ul",
        { class: "plain identities" },
        c.identities.map((i) => h("li", {}, h("span", { class: "kind" }, label("identity", i.kind)), " ", shown(i.value))),
      ),
      important
        ? h(
            "button",
            { type: "button", class: "link", "aria-pressed": String(this.reveal), onclick: () => { this.reveal = !this.reveal; this.drawCustomer(); } },
            this.reveal ? t("customer.hide") : t("customer.show"),
          )
        : null,
      h("h3", {}, t("customer.history")),
      this.history.length
        ? h(
            "ul",
            { class: "plain history" },
            this.history.map((x) =>
              h(
                "li",
                {},
                h("time", {}, dateTime(x.created_at)),
                " ",
                label("channel", x.channel),
                " · ",
                label("category", x.category),
                " · ",
                label("status", x.status),
                h("div", { class: "meta" }, x.subject || x.preview || ""),
              ),
            ),
          )
        : h("p", { class: "empty" }, t("customer.no_history")),
    );
  }

  // --- knowledge -----------------------------------------------------------------------------------------------

  renderSuggestions(articles) {
    this.suggestions = articles;
    this.drawKnowledge();
  }

  async related(details) {
    const text = (details && (details.subject || details.text)) || "";
    if (!text.trim()) return;
    try {
      const found = await get(svc("knowledge", "/search", { q: text.slice(0, 200), limit: 5 }));
      if (!this.suggestions) {
        this.suggestions = found.results.map((r) => ({ ...r, related: true }));
        this.drawKnowledge();
      }
    } catch {
      // Related articles are a convenience; the search box still works.
    }
  }

  drawKnowledge() {
    const box = this.els.knowledge;
    const form = h(
      "form",
      { class: "search", role: "search", onsubmit: (e) => { e.preventDefault(); this.search(e.target.elements.q.value); } },
      h("label", { for: "kb-q" }, t("kb.search")),
      h("input", { type: "search", id: "kb-q", name: "q", maxlength: 200 }),
      h("button", { type: "submit" }, t("kb.find")),
    );
    const suggested = this.suggestions && this.suggestions.length;
    replace(
      box,
      h("h3", {}, t("kb.suggested")),
      suggested
        ? h("ul", { class: "articles", id: "suggestions" }, this.suggestions.map((a) => this.article(a)))
        : h("p", { class: "empty", id: "suggestions" }, this.work ? t("kb.no_suggestions") : "—"),
      form,
      this.results
        ? this.results.length
          ? h("ul", { class: "articles", id: "kb-results" }, this.results.map((a) => this.article(a)))
          : h("p", { class: "empty" }, t("kb.no_results"))
        : null,
    );
  }

  article(a) {
    return h(
      "li",
      { class: "article", dataset: { articleId: a.article_id } },
      h("div", { class: "title" }, a.title),
      a.summary ? h("div", { class: "meta" }, a.summary) : null,
      h("button", { type: "button", class: "link insert", disabled: !this.work, onclick: () => this.use(a) }, t("kb.insert")),
    );
  }

  async search(q) {
    if (!q.trim()) return;
    try {
      const found = await get(svc("knowledge", "/search", { q, limit: 8 }));
      this.results = found.results;
    } catch (error) {
      toast(error.message, "error");
      this.results = [];
    }
    this.drawKnowledge();
  }

  async use(article) {
    let text = article.summary || article.title;
    try {
      const full = await get(svc("knowledge", `/articles/${article.article_id}`));
      if (full.body && full.body.length <= INSERT_WHOLE_UP_TO) text = full.body;
    } catch {
      // The summary will do.
    }
    this.ctx.insert(text, { article_id: article.article_id });
  }
}
