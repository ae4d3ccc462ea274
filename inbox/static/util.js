// Small DOM and formatting helpers. Text always goes in with textContent.

/** An element: h("div", {class: "x", onclick: f, dataset: {...}}, child, "text", ...). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const weekdayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long" });
const shortDateFormat = new Intl.DateTimeFormat(undefined, { day: "2-digit", month: "2-digit", year: "numeric" });
const longDateFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "long", year: "numeric" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

function daysAgo(date) {
  return Math.round((startOfDay(new Date()) - startOfDay(date)) / 86400000);
}

export function parseDate(value) {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

export function clockTime(date) {
  return date ? timeFormat.format(date) : "";
}

export function fullTime(date) {
  return date ? fullFormat.format(date) : "";
}

/** The list's time column: 14:05 today, Yesterday, a weekday this week, else a date. */
export function listTime(date) {
  if (!date) return "";
  const ago = daysAgo(date);
  if (ago <= 0) return timeFormat.format(date);
  if (ago === 1) return "Yesterday";
  if (ago < 7) return weekdayFormat.format(date);
  return shortDateFormat.format(date);
}

/** A date separator's label: Today, Yesterday, a weekday this week, else the date. */
export function dayLabel(date) {
  const ago = daysAgo(date);
  if (ago <= 0) return "Today";
  if (ago === 1) return "Yesterday";
  if (ago < 7) return weekdayFormat.format(date);
  return longDateFormat.format(date);
}

export function dayKey(date) {
  return `${date.getFullYear()}-${date.getMonth()}-${date.getDate()}`;
}

const AVATAR_COLORS = ["#00a884", "#25d366", "#53bdeb", "#ff7f66", "#a5b337", "#7f66ff", "#fc9775", "#02a698", "#c4532d", "#5e47de"];

export function initials(name) {
  const words = String(name || "").trim().split(/\s+/).filter((w) => /\p{L}/u.test(w));
  if (!words.length) return "";
  const letter = (word) => (word.match(/\p{L}/u) || [""])[0];
  const first = letter(words[0]);
  const last = words.length > 1 ? letter(words[words.length - 1]) : "";
  return (first + last).toUpperCase();
}

export function avatarColor(seed) {
  let hash = 0;
  for (const char of String(seed || "")) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return AVATAR_COLORS[hash % AVATAR_COLORS.length];
}

export function debounce(fn, wait) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
}
