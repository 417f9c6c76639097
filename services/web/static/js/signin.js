// The sign-in page: a name and password exchanged at the gateway for a session cookie the page cannot read, or
// the identity provider's sign-in when one is configured.

import { h } from "./dom.js";
import { LANGUAGES, chosen, current, setLanguage, t } from "./i18n.js";

const form = document.getElementById("signin-form");
const error = document.getElementById("signin-error");
const next = new URLSearchParams(location.search).get("next") || "";

async function submit(event) {
  event.preventDefault();
  error.textContent = "";
  const username = form.elements.username.value.trim();
  const password = form.elements.password.value;
  if (!username || !password) {
    error.textContent = t("signin.missing");
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const response = await fetch("/auth/signin", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ username, password, next }),
      credentials: "same-origin",
    });
    if (response.ok) {
      const answer = await response.json();
      location.assign(answer.next);
      return;
    }
    error.textContent = response.status === 429 ? t("signin.throttled") : t("signin.refused");
    form.elements.password.value = "";
    form.elements.password.focus();
  } catch {
    error.textContent = t("signin.offline");
  } finally {
    button.disabled = false;
  }
}

async function main() {
  await setLanguage(chosen());
  const select = document.getElementById("language");
  for (const [code, name] of LANGUAGES) select.append(h("option", { value: code, selected: code === current() }, name));
  select.addEventListener("change", () => setLanguage(select.value).then(drawProvider));
  form.addEventListener("submit", submit);
  const options = await (await fetch("/auth/options")).json();
  form.hidden = !options.password;
  if (options.oidc) {
    const link = document.getElementById("oidc-link");
    link.href = `/auth/oidc/start${next ? `?next=${encodeURIComponent(next)}` : ""}`;
    link.dataset.name = options.oidc.name;
    document.getElementById("oidc").hidden = false;
  }
  drawProvider();
  form.elements.username.focus();
}

function drawProvider() {
  const link = document.getElementById("oidc-link");
  if (link.dataset.name) link.textContent = t("signin.with", { name: link.dataset.name });
}

main();
