// The bar at the top of every page: where you are, the language, who is signed in, signing out.

import { me, signOut } from "./api.js";
import { h, replace } from "./dom.js";
import { LANGUAGES, chosen, current, onLanguage, setLanguage, t } from "./i18n.js";

/** Signs the page in (or sends the person to sign in), loads the language and draws the bar. */
export async function start(page) {
  const [session] = await Promise.all([me(), setLanguage(chosen())]);
  const bar = document.getElementById("topbar");
  const slot = h("div", { class: "bar-slot", id: "bar-slot" });
  const draw = () => {
    const nav = h(
      "nav",
      { class: "pages", "aria-label": t("shell.pages") },
      session.pages.map((path) =>
        h("a", { href: path, "aria-current": path === page ? "page" : null }, t(`shell.page.${path.slice(1)}`)),
      ),
    );
    const language = h(
      "select",
      { id: "language", onchange: (e) => setLanguage(e.target.value) },
      LANGUAGES.map(([code, name]) => h("option", { value: code, selected: code === current() }, name)),
    );
    replace(
      bar,
      h("span", { class: "brand" }, "Switchboard"),
      nav,
      slot,
      h("label", { class: "sr-only", for: "language" }, t("shell.language")),
      language,
      h("span", { class: "who" }, session.name, h("small", {}, ` · ${t(`role.${session.role}`)}`)),
      h("button", { type: "button", class: "quiet", onclick: signOut }, t("shell.sign_out")),
    );
  };
  draw();
  onLanguage(draw);
  return session;
}
