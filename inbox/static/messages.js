// The open chat's log: pages of older messages loaded on scrolling up, new ones placed by their
// time under a date separator, the unread divider, and the reader kept at the bottom.

import { api } from "./api.js";
import { renderMessage, updateArticle } from "./bubble.js";
import { MESSAGE_PAGE, el, state } from "./state.js";
import { dayKey, dayLabel, h, parseDate } from "./util.js";

let atBottom = true; // where the reader was before the log last grew

export function resetMessages() {
  state.messages.clear();
  state.eventSeen.clear();
  state.messageCursor = null;
  state.messagesLoading = false;
  state.early.clear();
  for (const child of [...el.messages.children]) if (child !== el.older) child.remove();
  el.older.textContent = "";
  el.toBottom.hidden = true;
}

function nearBottom() {
  return el.messages.scrollHeight - el.messages.scrollTop - el.messages.clientHeight < 120;
}

function scrollToBottom() {
  el.messages.scrollTop = el.messages.scrollHeight;
  el.toBottom.hidden = true;
  atBottom = true;
}

/** WhatsApp's "N unread messages" divider above the first message not read yet. */
export function markUnread(count) {
  const inbound = [...el.messages.querySelectorAll('article.msg[data-direction="inbound"]')];
  const first = inbound[Math.max(0, inbound.length - count)];
  if (!first) return;
  const divider = h("div", { class: "unread-divider" }, h("span", { text: `${count} unread message${count === 1 ? "" : "s"}` }));
  first.before(divider);
  if (divider.offsetTop < el.messages.scrollTop || divider.offsetTop > el.messages.scrollTop + el.messages.clientHeight - 80) {
    el.messages.scrollTop = Math.max(0, divider.offsetTop - 60);
    if (!nearBottom()) el.toBottom.hidden = false;
  }
}

function daySeparator(date) {
  return h("div", { class: "day", dataset: { day: dayKey(date) } }, h("span", { text: dayLabel(date) }));
}

function messageDate(message) {
  return parseDate(message.created_at) || new Date();
}

function lastMessageNode() {
  const nodes = el.messages.querySelectorAll("article.msg");
  return nodes.length ? nodes[nodes.length - 1] : null;
}

/** Append a message at the bottom (or where its time puts it), with a date separator if new. */
export function appendMessage(message, { stick = false } = {}) {
  const follow = stick || nearBottom();
  if (!state.messageCursor) el.older.textContent = "";
  state.messages.set(message.id, message);
  const date = messageDate(message);
  // Usually the newest; a late arrival goes before the first later message.
  let before = null;
  for (const article of [...el.messages.querySelectorAll("article.msg")].reverse()) {
    const other = state.messages.get(article.dataset.messageId);
    if (!other || other.id.startsWith("local-") || messageDate(other) <= date) break;
    before = article;
  }
  const node = renderMessage(message);
  if (before) {
    el.messages.insertBefore(node, before);
  } else {
    const last = lastMessageNode();
    const lastDay = last ? dayKey(messageDate(state.messages.get(last.dataset.messageId) || {})) : null;
    if (lastDay !== dayKey(date)) el.messages.append(daySeparator(date));
    el.messages.append(node);
  }
  if (follow) scrollToBottom();
  else el.toBottom.hidden = false;
  return node;
}

/** Prepend a page of older messages (given newest first, as the API lists them). */
function prependMessages(items) {
  const fragment = document.createDocumentFragment();
  let lastDay = null;
  for (const message of [...items].reverse()) {
    if (state.messages.has(message.id)) continue;
    state.messages.set(message.id, message);
    const date = messageDate(message);
    if (dayKey(date) !== lastDay) {
      fragment.append(daySeparator(date));
      lastDay = dayKey(date);
    }
    fragment.append(renderMessage(message));
  }
  el.older.after(fragment);
  // One separator per day: the day that continues below loses its own.
  const seen = new Set();
  for (const separator of el.messages.querySelectorAll(".day")) {
    if (seen.has(separator.dataset.day)) separator.remove();
    else seen.add(separator.dataset.day);
  }
}

/** The open chat's first page of messages, or the next older one. */
export async function loadMessages() {
  const c = state.current;
  if (!c || state.messagesLoading) return;
  const first = state.messages.size === 0 && !state.messageCursor;
  if (!first && !state.messageCursor) return;
  const generation = state.chatGeneration;
  state.messagesLoading = true;
  el.messages.setAttribute("aria-busy", "true");
  el.older.textContent = first ? "Loading messages…" : "Loading older messages…";
  try {
    const page = await api("GET", `/v1/conversations/${c.id}/messages`, {
      query: { limit: MESSAGE_PAGE, cursor: state.messageCursor || undefined },
    });
    if (generation !== state.chatGeneration) return;
    const previousHeight = el.messages.scrollHeight;
    const previousTop = el.messages.scrollTop;
    state.messageCursor = page.next_cursor;
    prependMessages(page.items);
    if (first) scrollToBottom();
    else el.messages.scrollTop = previousTop + (el.messages.scrollHeight - previousHeight);
  } catch {
    state.messageCursor = null;
  } finally {
    if (generation === state.chatGeneration) {
      state.messagesLoading = false;
      el.messages.removeAttribute("aria-busy");
      el.older.textContent = state.messageCursor || state.messages.size ? "" : "No messages yet";
      el.older.classList.toggle("end", !state.messageCursor && state.messages.size > 0);
      // A short first page leaves no room to scroll: fetch on until it fills or ends.
      if (state.messageCursor && el.messages.scrollHeight <= el.messages.clientHeight + 50) loadMessages();
    }
  }
}

/** A message of the open conversation, as the stream (or a resync) reports it. */
export function applyMessage(message) {
  state.eventSeen.add(message.id);
  const shown = state.messages.get(message.id);
  if (shown) {
    const merged = { ...shown, ...message, localUrl: shown.localUrl };
    state.messages.set(message.id, merged);
    updateArticle(merged);
    return;
  }
  if (message.direction === "outbound" && state.pendingSends > 0) {
    state.early.set(message.id, message); // perhaps ours, its answer still on its way
    return;
  }
  appendMessage(message, { stick: message.direction === "outbound" && nearBottom() });
}

/** Stream events for messages we did not know when our own sends were in flight. */
export function flushEarly() {
  if (state.pendingSends > 0) return;
  const waiting = [...state.early.values()];
  state.early.clear();
  for (const message of waiting) applyMessage(message);
}

export function initMessages() {
  el.messages.addEventListener("scroll", () => {
    if (el.messages.scrollTop < 250 && state.messageCursor && !state.messagesLoading) loadMessages();
    atBottom = nearBottom();
    if (atBottom) el.toBottom.hidden = true;
  });
  // A picture that loads grows the log: stay at the bottom if that is where the reader was.
  for (const type of ["load", "error"]) {
    el.messages.addEventListener(
      type,
      (event) => {
        if (event.target.tagName !== "IMG" || !atBottom) return;
        requestAnimationFrame(() => {
          el.messages.scrollTop = el.messages.scrollHeight;
        });
      },
      true,
    );
  }
  el.toBottom.addEventListener("click", () => {
    scrollToBottom();
    el.text.focus();
  });
}
