// The dialogs behind the work's actions: pending (on the customer, or on a department with its deadline),
// transfer (to an agent, a team or a department) and resolve with the three clears (三清): a resolution code, a
// final note and the customer told the result.

import { h, replace } from "./dom.js";
import { t } from "./i18n.js";

const CODES = ["answered", "fixed", "refunded", "explained", "escalated_fixed", "no_fault_found"];
let pending = null;

function dialog() {
  return document.getElementById("dialog");
}

export function closeDialog() {
  const box = dialog();
  if (box && box.open) box.close("cancel");
}

/** Shows a form in the dialog; resolves with what `read(form)` makes of it, or null when cancelled. */
function ask(title, fields, read, submitLabel) {
  const box = dialog();
  if (pending) pending(null);
  return new Promise((resolve) => {
    pending = resolve;
    const error = h("p", { class: "form-error", role: "alert" });
    const form = h(
      "form",
      { method: "dialog", class: "dialog-form" },
      h("h2", { id: "dialog-title" }, title),
      fields,
      error,
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "submit", class: "primary", value: "ok" }, submitLabel),
        h("button", { type: "button", value: "cancel", onclick: () => box.close("cancel") }, t("common.cancel")),
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      try {
        const body = read(form.elements);
        pending = null;
        box.close("ok");
        resolve(body);
      } catch (problem) {
        error.textContent = problem.message;
      }
    });
    box.addEventListener(
      "close",
      () => {
        if (pending === resolve) {
          pending = null;
          resolve(null);
        }
      },
      { once: true },
    );
    replace(box, form);
    box.showModal();
    const first = form.querySelector("input, select, textarea");
    if (first) first.focus();
  });
}

function field(id, key, control) {
  return h("div", { class: "field" }, h("label", { for: id }, t(key)), control);
}

function isoFromLocal(value) {
  const when = new Date(value);
  if (!value || Number.isNaN(when.getTime())) throw new Error(t("act.need_deadline"));
  if (when.getTime() <= Date.now()) throw new Error(t("act.deadline_future"));
  return when.toISOString();
}

function localIn(hours) {
  const when = new Date(Date.now() + hours * 3600 * 1000);
  when.setSeconds(0, 0);
  const pad = (n) => String(n).padStart(2, "0");
  return `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}T${pad(when.getHours())}:${pad(when.getMinutes())}`;
}

export function openPending() {
  const on = h(
    "fieldset",
    { class: "choice" },
    h("legend", {}, t("act.pending_on")),
    h("label", {}, h("input", { type: "radio", name: "on", value: "customer", checked: true }), " ", t("act.on_customer")),
    h("label", {}, h("input", { type: "radio", name: "on", value: "department" }), " ", t("act.on_department")),
  );
  return ask(
    t("act.pending_title"),
    [
      on,
      field("p-dept", "act.department", h("input", { id: "p-dept", name: "department", maxlength: 200 })),
      field("p-until", "act.deadline", h("input", { id: "p-until", name: "until", type: "datetime-local", value: localIn(4) })),
      field("p-reason", "act.reason", h("input", { id: "p-reason", name: "reason", maxlength: 500 })),
    ],
    (els) => {
      const body = { on: els.on.value, reason: els.reason.value || null };
      if (body.on === "department") {
        if (!els.department.value.trim()) throw new Error(t("act.need_department"));
        body.department = els.department.value.trim();
        body.until = isoFromLocal(els.until.value);
      }
      return body;
    },
    t("act.pending_submit"),
  );
}

export function openTransfer() {
  const to = h(
    "fieldset",
    { class: "choice" },
    h("legend", {}, t("act.transfer_to")),
    ["agent", "team", "department"].map((kind, i) =>
      h("label", {}, h("input", { type: "radio", name: "to", value: kind, checked: i === 0 }), " ", t(`act.to_${kind}`)),
    ),
  );
  return ask(
    t("act.transfer_title"),
    [
      to,
      field("t-target", "act.target", h("input", { id: "t-target", name: "target", maxlength: 100, required: true })),
      field("t-deadline", "act.deadline_department", h("input", { id: "t-deadline", name: "deadline", type: "datetime-local", value: localIn(24) })),
      field("t-reason", "act.reason", h("input", { id: "t-reason", name: "reason", maxlength: 500 })),
    ],
    (els) => {
      const target = els.target.value.trim();
      if (!target) throw new Error(t("act.need_target"));
      const body = { reason: els.reason.value || null };
      body[`to_${els.to.value}`] = target;
      if (els.to.value === "department") body.deadline = isoFromLocal(els.deadline.value);
      return body;
    },
    t("act.transfer_submit"),
  );
}

/** Resolved at first contact: never reopened, and still with the agent who took it first. */
function firstContact(work) {
  return !work.reopened && (!work.first_owner_id || work.first_owner_id === work.owner_id);
}

export function openResolve(work) {
  const code = h(
    "select",
    { id: "r-code", name: "code", required: true },
    h("option", { value: "" }, t("act.choose")),
    CODES.map((c) => h("option", { value: c }, t(`code.${c}`))),
  );
  const notified = h(
    "fieldset",
    { class: "choice" },
    h("legend", {}, t("act.customer_told")),
    h("label", {}, h("input", { type: "radio", name: "told", value: "notice", checked: true }), " ", t("act.send_notice")),
    h("label", {}, h("input", { type: "radio", name: "told", value: "already" }), " ", t("act.already_told")),
  );
  return ask(
    t("act.resolve_title"),
    [
      h("p", { class: "hint" }, t("act.three_clears")),
      field("r-code", "act.code", code),
      field("r-note", "act.final_note", h("textarea", { id: "r-note", name: "note", rows: 3, maxlength: 4000, required: true })),
      notified,
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "fcr", checked: firstContact(work) }), " ", t("act.fcr")),
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "close", checked: true }), " ", t("act.close_when_clear")),
    ],
    (els) => {
      if (!els.code.value) throw new Error(t("act.need_code"));
      if (!els.note.value.trim()) throw new Error(t("act.need_note"));
      const already = els.told.value === "already";
      return {
        resolution_code: els.code.value,
        final_note: els.note.value.trim(),
        fcr: els.fcr.checked,
        customer_notified: already,
        send_end_notice: !already,
        close: els.close.checked,
      };
    },
    t("act.resolve_submit"),
  );
}
