// Three languages, chosen by the person (remembered in this browser), first guessed from the browser's list:
// Traditional for zh-TW/HK/MO and zh-Hant, Simplified for other Chinese, English otherwise.

export const LANGUAGES = [
  ["zh-Hans", "简体中文"],
  ["zh-Hant", "繁體中文"],
  ["en", "English"],
];
const KEY = "sb.lang";
let lang = "en";
let catalog = {};
const listeners = [];

export function guess(list = navigator.languages || [navigator.language || "en"]) {
  for (const raw of list) {
    const tag = raw.toLowerCase();
    if (tag.startsWith("zh")) {
      return /hant|-tw|-hk|-mo|yue/.test(tag) ? "zh-Hant" : "zh-Hans";
    }
    if (tag.startsWith("en")) return "en";
  }
  return "en";
}

export function chosen() {
  const stored = localStorage.getItem(KEY);
  return LANGUAGES.some(([code]) => code === stored) ? stored : guess();
}

export function current() {
  return lang;
}

export async function setLanguage(code) {
  const response = await fetch(`/static/i18n/${code}.json`, { credentials: "same-origin" });
  catalog = await response.json();
  lang = code;
  localStorage.setItem(KEY, code);
  document.documentElement.lang = code;
  translate(document);
  for (const listener of listeners) listener(code);
}

export function onLanguage(listener) {
  listeners.push(listener);
}

/** The text for `key` with `{name}` placeholders filled; the key itself when a text is missing. */
export function t(key, vars = {}) {
  const text = catalog[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? `{${name}}`));
}

/** A value's label if the catalog has one (`prefix.value`), else the value as it is. */
export function label(prefix, value) {
  if (value === null || value === undefined) return "";
  const key = `${prefix}.${value}`;
  return catalog[key] ?? String(value).replace(/_/g, " ");
}

export function translate(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

export function time(value) {
  return new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date(value));
}

/** Hours and minutes on a 24-hour clock (chart axes). */
export function hm(value) {
  return new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(value));
}

export function dateTime(value) {
  return new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "short" }).format(new Date(value));
}

export function number(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return new Intl.NumberFormat(lang, { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(value);
}

export function percent(value, digits = 0) {
  return value === null || value === undefined ? "—" : `${number(value, digits)}%`;
}
