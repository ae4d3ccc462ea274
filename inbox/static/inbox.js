// The inbox page: the conversation list, the open chat, the composer and the live stream.
// Plain modules, no framework. Data from the API only ever reaches the page as text.

import { api, boot, describe, newKey, toast } from "./api.js";
import { fillIcons, icon, ticks } from "./icons.js";
import {
  avatar,
  bubbleMeta,
  contactLabel,
  contentNodes,
  conversationRow,
  fillAvatar,
  fillVariables,
  renderTemplateText,
  snippet,
  templateParts,
  variablesOf,
} from "./render.js";
import { dayKey, dayLabel, debounce, fullTime, h, parseDate } from "./util.js";

const $ = (id) => document.getElementById(id);
const ME = boot.me || {};
const IS_ADMIN = ME.role === "admin";
const WINDOW_HOURS = boot.window_hours || 24;
const LIST_PAGE = 30;
const MESSAGE_PAGE = 40;
const PHONE_LAYOUT = window.matchMedia("(max-width: 760px)");
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const el = {
  app: $("app"),
  connection: $("connection"),
  search: $("search"),
  filters: $("filters"),
  archived: $("archived"),
  chats: $("chats"),
  chatScroll: $("chat-scroll"),
  listNote: $("list-note"),
  sentinel: $("list-sentinel"),
  empty: $("chat-empty"),
  conversation: $("conversation"),
  chatAvatar: $("chat-avatar"),
  chatName: $("chat-name"),
  chatPhone: $("chat-phone"),
  chatAssignee: $("chat-assignee"),
  menuButton: $("menu-button"),
  menu: $("chat-menu"),
  messages: $("messages"),
  older: $("older"),
  toBottom: $("to-bottom"),
  composer: $("composer"),
  text: $("text"),
  file: $("file"),
  replyPreview: $("reply-preview"),
  replyQuote: $("reply-quote"),
  windowClosed: $("window-closed"),
  windowNote: $("window-note"),
  templateSelect: $("template-select"),
  templateParams: $("template-params"),
  templatePreview: $("template-preview"),
  templateSend: $("template-send"),
};

const state = {
  filter: "all",
  archived: false,
  q: "",
  rows: new Map(), // conversation id -> conversation, as the list shows it
  cursor: null,
  listLoading: false,
  listGeneration: 0,
  listDone: false,
  current: null, // the open conversation
  messages: new Map(), // message id -> message, of the open conversation
  messageCursor: null,
  messagesLoading: false,
  chatGeneration: 0,
  pendingSends: 0,
  early: new Map(), // events for ids not shown yet, while our own sends are in flight
  eventSeen: new Set(),
  replyTo: null,
  templates: [],
  quoteCache: new Map(),
};

// --- the list ----------------------------------------------------------------------

function compareRows(a, b) {
  const at = (a.activity_at || "") < (b.activity_at || "") ? -1 : (a.activity_at || "") > (b.activity_at || "") ? 1 : 0;
  if (at !== 0) return -at;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

function matchesSearch(conversation) {
  const term = state.q.trim().toLowerCase();
  if (!term) return true;
  const contact = conversation.contact || {};
  if ((contact.name || "").toLowerCase().includes(term)) return true;
  const digits = term.replace(/\D/g, "");
  return /^[\d\s+()\-.]+$/.test(term) && digits !== "" && (contact.phone || "").replace(/\D/g, "").includes(digits);
}

function fitsList(conversation) {
  if (conversation.deleted_at) return false;
  if (Boolean(conversation.is_archived) !== state.archived) return false;
  // The open chat stays in the list it was opened from even once it is read (but does not
  // join a list it was not in).
  const isOpen = state.current && state.current.id === conversation.id && Boolean(rowElement(conversation.id));
  if (state.filter === "unread" && !(conversation.unread_count > 0) && !isOpen) return false;
  if (state.filter === "favorites" && !conversation.is_favorite) return false;
  if (state.filter === "groups" && !(conversation.contact && conversation.contact.is_group)) return false;
  return matchesSearch(conversation);
}

function rowElement(id) {
  return el.chats.querySelector(`li[data-conversation-id="${CSS.escape(id)}"]`);
}

function renderRow(conversation) {
  const row = conversationRow(conversation, { current: state.current && state.current.id === conversation.id });
  row.querySelector("button").addEventListener("click", () => openConversation(conversation.id));
  return row;
}

/** Put a conversation where it belongs in the list (or take it out). */
function upsertRow(conversation) {
  const existing = rowElement(conversation.id);
  if (!fitsList(conversation)) {
    if (existing) {
      const hadFocus = existing.contains(document.activeElement);
      existing.remove();
      state.rows.delete(conversation.id);
      if (hadFocus) el.search.focus();
    }
    updateListNote();
    return;
  }
  state.rows.set(conversation.id, conversation);
  const fresh = renderRow(conversation);
  // Newest activity first: before the first row that sorts after it.
  let before = null;
  for (const item of el.chats.children) {
    if (item === existing) continue;
    const other = state.rows.get(item.dataset.conversationId);
    if (other && compareRows(conversation, other) < 0) {
      before = item;
      break;
    }
  }
  if (!before && !existing && state.cursor) {
    // Older than every loaded row: it comes with a later page.
    state.rows.delete(conversation.id);
    return;
  }
  const hadFocus = existing && existing.contains(document.activeElement);
  if (existing) existing.remove();
  el.chats.insertBefore(fresh, before);
  if (hadFocus) fresh.querySelector("button").focus();
  updateListNote();
}

function removeRow(id) {
  const existing = rowElement(id);
  if (existing) existing.remove();
  state.rows.delete(id);
  updateListNote();
}

function updateListNote() {
  if (state.listLoading && !el.chats.children.length) {
    el.listNote.textContent = "Loading chats…";
    el.listNote.hidden = false;
    return;
  }
  if (el.chats.children.length || state.listLoading) {
    el.listNote.hidden = true;
    return;
  }
  let text = "No chats yet. Start one with New message.";
  if (state.q.trim()) text = `No chats match “${state.q.trim()}”.`;
  else if (state.archived) text = "No archived chats.";
  else if (state.filter === "unread") text = "No unread chats.";
  else if (state.filter === "favorites") text = "No favourite chats.";
  else if (state.filter === "groups") text = "No group chats.";
  el.listNote.textContent = text;
  el.listNote.hidden = false;
}

async function loadList({ reset = false } = {}) {
  if (reset) {
    state.listGeneration += 1;
    state.cursor = null;
    state.listDone = false;
    state.rows.clear();
    el.chats.replaceChildren();
    state.listLoading = false;
  }
  if (state.listLoading || state.listDone) return;
  const generation = state.listGeneration;
  state.listLoading = true;
  el.chats.setAttribute("aria-busy", "true");
  updateListNote();
  try {
    const page = await api("GET", "/v1/conversations", {
      query: {
        filter: state.filter,
        archived: state.archived ? "true" : undefined,
        q: state.q.trim().slice(0, 100) || undefined,
        limit: LIST_PAGE,
        cursor: state.cursor || undefined,
      },
    });
    if (generation !== state.listGeneration) return;
    state.cursor = page.next_cursor;
    state.listDone = !page.next_cursor;
    const fragment = document.createDocumentFragment();
    for (const conversation of page.items) {
      const existing = rowElement(conversation.id);
      if (existing) existing.remove();
      state.rows.set(conversation.id, conversation);
      fragment.append(renderRow(conversation));
    }
    el.chats.append(fragment);
  } catch {
    if (generation === state.listGeneration) state.listDone = true; // stop the scroll loop; a new filter retries
  } finally {
    if (generation === state.listGeneration) {
      state.listLoading = false;
      el.chats.removeAttribute("aria-busy");
      updateListNote();
      // Keep filling while the sentinel is still in view.
      if (!state.listDone) requestAnimationFrame(() => sentinelVisible() && loadList());
    }
  }
}

function sentinelVisible() {
  const box = el.chatScroll.getBoundingClientRect();
  const mark = el.sentinel.getBoundingClientRect();
  return box.height > 0 && mark.top <= box.bottom + 200;
}

new IntersectionObserver(
  (entries) => {
    if (entries.some((entry) => entry.isIntersecting)) loadList();
  },
  { root: el.chatScroll, rootMargin: "0px 0px 300px 0px" },
).observe(el.sentinel);

function setFilter(filter) {
  state.filter = filter;
  for (const chip of el.filters.querySelectorAll("[data-filter]")) {
    chip.setAttribute("aria-pressed", String(chip.dataset.filter === filter));
  }
  loadList({ reset: true });
}

el.filters.addEventListener("click", (event) => {
  const chip = event.target.closest("[data-filter]");
  if (chip) setFilter(chip.dataset.filter);
});

el.archived.addEventListener("click", () => {
  state.archived = !state.archived;
  el.archived.setAttribute("aria-pressed", String(state.archived));
  el.app.classList.toggle("showing-archived", state.archived);
  loadList({ reset: true });
});

el.search.addEventListener(
  "input",
  debounce(() => {
    if (state.q === el.search.value) return;
    state.q = el.search.value;
    loadList({ reset: true });
  }, 250),
);
el.search.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && el.search.value) {
    el.search.value = "";
    state.q = "";
    loadList({ reset: true });
  } else if (event.key === "ArrowDown") {
    const first = el.chats.querySelector("button");
    if (first) {
      event.preventDefault();
      first.focus();
    }
  }
});

// Arrow keys move between rows.
el.chats.addEventListener("keydown", (event) => {
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  const item = event.target.closest("li");
  if (!item) return;
  const next = event.key === "ArrowDown" ? item.nextElementSibling : item.previousElementSibling;
  if (next) {
    event.preventDefault();
    next.querySelector("button").focus();
  } else if (event.key === "ArrowUp") {
    event.preventDefault();
    el.search.focus();
  }
});

// Row refreshes after events: one GET per conversation per burst.
const refreshTimers = new Map();

function refreshConversation(id, delay = 200) {
  clearTimeout(refreshTimers.get(id));
  refreshTimers.set(
    id,
    setTimeout(async () => {
      refreshTimers.delete(id);
      try {
        const conversation = await api("GET", `/v1/conversations/${id}`, { quiet: true });
        applyConversation(conversation);
      } catch (error) {
        if (error.status === 404) applyConversation({ id, deleted_at: new Date().toISOString() });
      }
    }, delay),
  );
}

/** A newer view of a conversation (from the API or the stream). */
function applyConversation(conversation) {
  if (conversation.deleted_at) {
    removeRow(conversation.id);
    if (state.current && state.current.id === conversation.id) {
      closeConversation();
      toast("This chat was deleted.", { kind: "info" });
    }
    return;
  }
  upsertRow(conversation);
  if (state.current && state.current.id === conversation.id) {
    const wasCleared = !conversation.last_message && state.messages.size > 0 && state.pendingSends === 0;
    state.current = conversation;
    renderHeader();
    renderWindow();
    if (wasCleared && ![...state.messages.keys()].some((id) => id.startsWith("local-"))) {
      resetMessages();
      loadMessages();
    }
  }
}

// --- the open chat -----------------------------------------------------------------

function assigneeText(conversation) {
  if (!conversation.assigned_user_id) return "Unassigned";
  const name = (conversation.assignee && conversation.assignee.name)
    || (boot.users || []).find((u) => u.id === conversation.assigned_user_id)?.name
    || "someone";
  return `Assigned to ${name}`;
}

function renderHeader() {
  const c = state.current;
  if (!c) return;
  el.chatName.textContent = contactLabel(c.contact);
  el.chatPhone.textContent = c.contact.phone || "";
  el.chatAssignee.textContent = assigneeText(c);
  el.chatAssignee.classList.toggle("mine", c.assigned_user_id === ME.user_id);
  fillAvatar(el.chatAvatar, c.contact);
  document.title = `${contactLabel(c.contact)} · ${boot.company?.name || "Inbox"}`;
}

function windowOpen(conversation) {
  const until = parseDate(conversation && conversation.window_expires_at);
  return Boolean(until && until.getTime() > Date.now());
}

function renderWindow() {
  const c = state.current;
  if (!c) return;
  const open = windowOpen(c);
  el.windowClosed.hidden = open;
  el.conversation.classList.toggle("window-is-closed", !open);
  if (!open) {
    const who = contactLabel(c.contact);
    const last = c.window_expires_at ? `${who} last wrote more than ${WINDOW_HOURS} hours ago` : `${who} has not written yet`;
    el.windowNote.textContent = `The ${WINDOW_HOURS}-hour window is closed: ${last}. WhatsApp only delivers approved templates until they write again.`;
    fillTemplateSelect();
  }
}
setInterval(renderWindow, 30000);

function setView(view) {
  el.app.dataset.view = view;
}

function closeConversation() {
  state.chatGeneration += 1;
  state.current = null;
  resetMessages();
  closeMenu();
  el.conversation.hidden = true;
  el.empty.hidden = false;
  setView("list");
  for (const current of el.chats.querySelectorAll('[aria-current="true"]')) current.removeAttribute("aria-current");
  document.title = `Inbox · ${boot.company?.name || ""}`;
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
}

async function openConversation(id, { conversation = null, focus = true } = {}) {
  const generation = ++state.chatGeneration;
  let found = conversation || state.rows.get(id);
  if (!found) {
    try {
      found = await api("GET", `/v1/conversations/${id}`);
    } catch {
      return;
    }
    if (generation !== state.chatGeneration) return;
  }
  const switching = !state.current || state.current.id !== id;
  state.current = found;
  if (switching) {
    resetMessages();
    setReply(null);
    el.text.value = drafts.get(id) || "";
    autoGrow();
  }
  closeMenu();
  el.empty.hidden = true;
  el.conversation.hidden = false;
  setView("chat");
  for (const item of el.chats.children) {
    const button = item.querySelector("button");
    if (item.dataset.conversationId === id) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
  renderHeader();
  renderWindow();
  // On a phone the chat is a page of its own: the browser's Back returns to the list.
  if (PHONE_LAYOUT.matches && !(history.state && history.state.chat)) history.pushState({ chat: id }, "", `#${id}`);
  else if (location.hash !== `#${id}`) history.replaceState(history.state, "", `#${id}`);
  if (focus) {
    if (PHONE_LAYOUT.matches) $("back").focus();
    else el.text.focus();
  }
  const unread = found.unread_count || 0;
  if (switching) {
    await loadMessages();
    if (generation === state.chatGeneration && unread > 0) markUnread(unread);
  }
  markRead();
}

let reading = null;
async function markRead() {
  const c = state.current;
  if (!c || !(c.unread_count > 0) || document.visibilityState !== "visible" || reading === c.id) return;
  reading = c.id;
  try {
    const updated = await api("POST", `/v1/conversations/${c.id}/read`, { quiet: true });
    applyConversation(updated);
  } catch {
    // the next event or visit tries again
  } finally {
    reading = null;
  }
}
document.addEventListener("visibilitychange", markRead);
window.addEventListener("focus", markRead);

function backToList() {
  const id = state.current && state.current.id;
  setView("list");
  const row = id && rowElement(id);
  (row ? row.querySelector("button") : el.search).focus();
}

$("back").addEventListener("click", () => {
  if (history.state && history.state.chat) history.back(); // popstate goes back to the list
  else backToList();
});
window.addEventListener("popstate", () => {
  if (el.app.dataset.view === "chat" && PHONE_LAYOUT.matches) backToList();
});

$("chat-who").addEventListener("click", () => showContactInfo());
document.querySelector(".chat-title").addEventListener("click", (event) => {
  if (!event.target.closest("button")) showContactInfo();
});

// --- messages ----------------------------------------------------------------------

function resetMessages() {
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
function markUnread(count) {
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

/** One message: an article with its id, status and direction. */
function renderMessage(message) {
  const outbound = message.direction === "outbound";
  const bubble = h("div", { class: `bubble bubble-${message.type || "text"}` });
  if (message.reply_to) bubble.append(quoteFor(message.reply_to));
  bubble.append(...contentNodes(message, state.templates), bubbleMeta(message));
  const article = h(
    "article",
    {
      class: `msg ${outbound ? "out" : "in"}`,
      dataset: { messageId: message.id, status: message.status || "sending", direction: message.direction || "outbound" },
      "aria-label": null,
    },
    bubble,
  );
  if (!message.id.startsWith("local-")) {
    const reply = h("button", { type: "button", class: "msg-action", "aria-label": "Reply", title: "Reply" }, icon("reply"));
    reply.addEventListener("click", () => setReply(state.messages.get(article.dataset.messageId) || message));
    article.append(reply);
  }
  decorateFailure(article, message);
  return article;
}

function decorateFailure(article, message) {
  for (const old of article.querySelectorAll(".failure")) old.remove();
  if (message.status !== "failed" || message.direction !== "outbound") return;
  const reason = message.error && (message.error.title || message.error.code);
  const retry = h("button", { type: "button", class: "retry" }, "Retry");
  retry.addEventListener("click", () => retryMessage(article.dataset.messageId, retry));
  article.append(
    h("div", { class: "failure" }, h("span", { class: "failure-text", text: reason ? `Not sent: ${reason}` : "Not sent" }), retry),
  );
}

function updateArticle(message) {
  const article = el.messages.querySelector(`article[data-message-id="${CSS.escape(message.id)}"]`);
  if (!article) return;
  if (article.dataset.status === message.status && !(message.status === "failed" && !article.querySelector(".failure"))) return;
  article.dataset.status = message.status;
  const old = article.querySelector(".meta .ticks");
  if (old && message.direction === "outbound") {
    // In place: the log announces added nodes, and a tick is no news to read out.
    const fresh = ticks(message.status);
    old.className = fresh.className;
    old.title = fresh.title;
    old.setAttribute("aria-label", fresh.getAttribute("aria-label"));
    old.replaceChildren(...fresh.childNodes);
  }
  decorateFailure(article, message);
}

/** Our optimistic bubble becomes the server's message: its id, a Reply button, its status. */
function adoptLocal(article, message) {
  article.dataset.messageId = message.id;
  if (!article.querySelector(".msg-action")) {
    const reply = h("button", { type: "button", class: "msg-action", "aria-label": "Reply", title: "Reply" }, icon("reply"));
    reply.addEventListener("click", () => setReply(state.messages.get(article.dataset.messageId) || message));
    article.append(reply);
  }
  updateArticle(message);
}

function lastMessageNode() {
  const nodes = el.messages.querySelectorAll("article.msg");
  return nodes.length ? nodes[nodes.length - 1] : null;
}

/** Append a message at the bottom (or where its time puts it), with a date separator if new. */
function appendMessage(message, { stick = false } = {}) {
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

async function loadMessages() {
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
      el.older.textContent = state.messageCursor ? "" : state.messages.size ? "" : "No messages yet";
      el.older.classList.toggle("end", !state.messageCursor && state.messages.size > 0);
      // A short first page leaves no room to scroll: fetch on until it fills or ends.
      if (state.messageCursor && el.messages.scrollHeight <= el.messages.clientHeight + 50) loadMessages();
    }
  }
}

let atBottom = true;
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

// Replies: the quote of the message answered (fetched when it is not on screen).
function quoteFor(id) {
  const quote = h("button", { type: "button", class: "quote", "aria-label": null });
  const fill = (message) => {
    const author = !message ? "" : message.direction === "outbound" ? "You" : contactLabel(state.current && state.current.contact);
    quote.replaceChildren(
      h("span", { class: "quote-author", text: author || "Message" }),
      h("span", { class: "quote-text", text: message ? snippet(message) || " " : "Message not available" }),
    );
    quote.classList.toggle("quote-out", Boolean(message && message.direction === "outbound"));
  };
  const known = state.messages.get(id) || state.quoteCache.get(id);
  if (known) fill(known);
  else {
    fill(null);
    quote.querySelector(".quote-text").textContent = "…";
    let pending = state.quoteCache.get(`promise:${id}`);
    if (!pending) {
      pending = api("GET", `/v1/messages/${id}`, { quiet: true }).catch(() => null);
      state.quoteCache.set(`promise:${id}`, pending);
    }
    pending.then((message) => {
      if (message) state.quoteCache.set(id, message);
      fill(message);
    });
  }
  quote.addEventListener("click", () => {
    const target = el.messages.querySelector(`article[data-message-id="${CSS.escape(id)}"]`);
    if (target) {
      target.scrollIntoView({ block: "center", behavior: "smooth" });
      target.classList.remove("flash");
      void target.offsetWidth;
      target.classList.add("flash");
    }
  });
  return quote;
}

function setReply(message) {
  state.replyTo = message && !message.id.startsWith("local-") ? message : null;
  el.replyPreview.hidden = !state.replyTo;
  if (state.replyTo) {
    const author = state.replyTo.direction === "outbound" ? "You" : contactLabel(state.current.contact);
    el.replyQuote.replaceChildren(
      h("span", { class: "quote-author", text: `Replying to ${author}` }),
      h("span", { class: "quote-text", text: snippet(state.replyTo) }),
    );
    el.text.focus();
  }
}
$("reply-cancel").addEventListener("click", () => {
  setReply(null);
  el.text.focus();
});

// --- sending -----------------------------------------------------------------------

const drafts = new Map();

function autoGrow() {
  el.text.style.height = "auto";
  el.text.style.height = `${Math.min(el.text.scrollHeight, 140)}px`;
  el.composer.classList.toggle("has-text", el.text.value.trim() !== "");
}

el.text.addEventListener("input", () => {
  if (state.current) drafts.set(state.current.id, el.text.value);
  autoGrow();
});
el.text.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    el.composer.requestSubmit();
  } else if (event.key === "Escape" && state.replyTo) {
    event.preventDefault();
    setReply(null);
  }
});

el.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const body = el.text.value;
  if (!state.current || !body.trim()) {
    el.text.focus();
    return;
  }
  el.text.value = "";
  drafts.delete(state.current.id);
  autoGrow();
  const reply = state.replyTo;
  setReply(null);
  el.text.focus();
  send({ type: "text", text: { body } }, {
    onError: () => {
      if (!el.text.value) {
        el.text.value = body;
        autoGrow();
      }
    },
    reply,
  });
});

/**
 * Send a message in the open conversation: it shows at once as Sending, then as the
 * server has it. `prepare` (an upload) runs first and returns the typed object.
 */
async function send(typed, { onError = null, reply = null, prepare = null, localUrl = null } = {}) {
  const conversation = state.current;
  const generation = state.chatGeneration;
  const localId = `local-${newKey()}`;
  const type = typed.type;
  const local = {
    id: localId,
    direction: "outbound",
    status: "sending",
    type,
    text: type === "text" ? typed.text.body : null,
    content: typed[type],
    conversation_id: conversation.id,
    reply_to: reply ? reply.id : null,
    created_at: new Date().toISOString(),
    localUrl,
  };
  appendMessage(local, { stick: true });
  state.pendingSends += 1;
  let answer;
  try {
    if (prepare) {
      const prepared = await prepare();
      typed = { type, [type]: prepared };
    }
    const body = { to: conversation.contact.phone, type, [type]: typed[type] };
    if (reply) body.reply_to = reply.id;
    answer = await api("POST", "/v1/messages", { body, headers: { "Idempotency-Key": newKey() } });
  } catch (error) {
    dropLocal(localId);
    if (onError) onError(error);
    return null;
  } finally {
    state.pendingSends -= 1;
  }
  if (generation !== state.chatGeneration || !state.current || state.current.id !== conversation.id) {
    flushEarly();
    return answer;
  }
  // The server's id from now on; events that beat the answer apply now.
  const known = state.messages.get(answer.id);
  const message = { ...local, id: answer.id, status: answer.status || "sending", localUrl: undefined };
  const article = el.messages.querySelector(`article[data-message-id="${CSS.escape(localId)}"]`);
  state.messages.delete(localId);
  if (known) {
    // The stream already showed it: keep that one.
    if (article) article.remove();
  } else {
    if (localUrl && type === "image") message.localUrl = localUrl; // no flash while the upload is fetched back
    state.messages.set(answer.id, message);
    if (article) adoptLocal(article, message);
    const early = state.early.get(answer.id);
    state.early.delete(answer.id);
    if (early) applyMessage(early);
    else syncMessage(answer.id);
  }
  flushEarly();
  refreshConversation(conversation.id, 50);
  return answer;
}

function dropLocal(localId) {
  state.messages.delete(localId);
  const article = el.messages.querySelector(`article[data-message-id="${CSS.escape(localId)}"]`);
  if (!article) return;
  const previous = article.previousElementSibling;
  const next = article.nextElementSibling;
  article.remove();
  if (previous && previous.classList.contains("day") && (!next || next.classList.contains("day"))) previous.remove();
}

/** The server's view of a message just sent (unless the stream got there first). */
async function syncMessage(id) {
  try {
    const message = await api("GET", `/v1/messages/${id}`, { quiet: true });
    if (!state.eventSeen.has(id) && state.messages.has(id)) {
      const shown = state.messages.get(id);
      const fresh = { ...message, localUrl: shown.localUrl };
      state.messages.set(id, fresh);
      const article = el.messages.querySelector(`article[data-message-id="${CSS.escape(id)}"]`);
      // A document's link moves from the file picked to the server's copy; the rest stays.
      if (article && fresh.type === "document") article.replaceWith(renderMessage(fresh));
      else updateArticle(fresh);
    }
  } catch {
    // the stream carries its statuses anyway
  }
}

/** Stream events for messages we did not know when our own sends were in flight. */
function flushEarly() {
  if (state.pendingSends > 0) return;
  const waiting = [...state.early.values()];
  state.early.clear();
  for (const message of waiting) applyMessage(message);
}

async function retryMessage(id, button) {
  if (!id || id.startsWith("local-")) return;
  button.disabled = true;
  try {
    await api("POST", `/v1/messages/${id}/retry`);
    const message = state.messages.get(id);
    if (message) {
      message.status = "sending";
      message.error = null;
      updateArticle(message);
    }
  } catch {
    button.disabled = false;
  }
}

// Attachments: upload to /v1/media, then send it by id.
$("attach").addEventListener("click", () => el.file.click());
el.file.addEventListener("change", () => {
  const file = el.file.files && el.file.files[0];
  el.file.value = "";
  if (!file || !state.current) return;
  sendFile(file);
});

function sendFile(file) {
  const isImage = file.type === "image/jpeg" || file.type === "image/png";
  const type = isImage ? "image" : "document";
  const localUrl = URL.createObjectURL(file);
  const placeholder = isImage ? {} : { filename: file.name };
  const reply = state.replyTo;
  setReply(null);
  send(
    { type, [type]: placeholder },
    {
      reply,
      localUrl,
      prepare: async () => {
        const form = new FormData();
        form.append("file", file, file.name);
        const uploaded = await api("POST", "/v1/media", { body: form });
        return isImage ? { id: uploaded.id } : { id: uploaded.id, filename: file.name.slice(0, 240) || "document" };
      },
    },
  ).finally(() => setTimeout(() => URL.revokeObjectURL(localUrl), 60000));
}

// Drop a file on the chat to send it.
el.messages.addEventListener("dragover", (event) => {
  if (state.current && event.dataTransfer && [...event.dataTransfer.types].includes("Files")) event.preventDefault();
});
el.messages.addEventListener("drop", (event) => {
  if (!state.current || !event.dataTransfer || !event.dataTransfer.files.length) return;
  event.preventDefault();
  sendFile(event.dataTransfer.files[0]);
});

// --- templates (when the 24-hour window is closed) ---------------------------------

async function loadTemplates() {
  try {
    const page = await api("GET", "/v1/templates", { quiet: true });
    state.templates = (page && page.items) || [];
  } catch {
    state.templates = [];
  }
  if (state.current) renderWindow();
  // Template bubbles drawn before the catalogue came: draw them again.
  for (const article of el.messages.querySelectorAll("article.msg")) {
    const message = state.messages.get(article.dataset.messageId);
    if (message && message.type === "template") article.replaceWith(renderMessage(message));
  }
}

function approvedTemplates() {
  return state.templates.filter((t) => t.status === "APPROVED");
}

function templateKey(t) {
  return `${t.name}\u0000${t.language}`;
}

function fillTemplateSelect() {
  const approved = approvedTemplates();
  const chosen = el.templateSelect.value;
  const keys = approved.map(templateKey).join("\n");
  if (el.templateSelect.dataset.keys !== keys) {
    el.templateSelect.dataset.keys = keys;
    el.templateSelect.replaceChildren(
      ...approved.map((t) => h("option", { value: templateKey(t), text: `${t.name.replaceAll("_", " ")} (${t.language})` })),
    );
    if (!approved.length) el.templateSelect.append(h("option", { value: "", text: "No approved templates" }));
    if (approved.some((t) => templateKey(t) === chosen)) el.templateSelect.value = chosen;
    renderTemplateParams();
  }
  el.templateSend.disabled = !approved.length;
}

function selectedTemplate() {
  return approvedTemplates().find((t) => templateKey(t) === el.templateSelect.value) || null;
}

/** The template's variables: the header's (if text), then the body's. */
function templateVariables(template) {
  const parts = templateParts(template);
  const header = parts.HEADER && String(parts.HEADER.format || "TEXT").toUpperCase() === "TEXT" ? variablesOf(parts.HEADER.text) : [];
  const body = parts.BODY ? variablesOf(parts.BODY.text) : [];
  return { header, body };
}

function renderTemplateParams() {
  const template = selectedTemplate();
  el.templateParams.replaceChildren();
  if (!template) {
    el.templatePreview.textContent = approvedTemplates().length ? "" : "No approved templates yet: create one at Meta, then run `wapipe templates sync`.";
    return;
  }
  const { header, body } = templateVariables(template);
  const field = (label, part, index) =>
    h(
      "label",
      { class: "field" },
      h("span", { text: label }),
      h("input", { type: "text", "aria-label": label, dataset: { part, index: String(index) }, maxlength: "1024", oninput: updateTemplatePreview }),
    );
  header.forEach((_, i) => el.templateParams.append(field(`Header parameter ${i + 1}`, "header", i)));
  body.forEach((_, i) => el.templateParams.append(field(`Parameter ${i + 1}`, "body", i)));
  updateTemplatePreview();
}

function templateComponents() {
  const components = [];
  for (const part of ["header", "body"]) {
    const inputs = [...el.templateParams.querySelectorAll(`input[data-part="${part}"]`)];
    if (inputs.length) components.push({ type: part, parameters: inputs.map((input) => ({ type: "text", text: input.value })) });
  }
  return components;
}

function updateTemplatePreview() {
  const template = selectedTemplate();
  if (!template) return;
  const rendered = renderTemplateText({ name: template.name, language: { code: template.language }, components: templateComponents() }, [template]);
  el.templatePreview.textContent = [rendered.header, rendered.body, rendered.footer].filter(Boolean).join("\n");
}

el.templateSelect.addEventListener("change", renderTemplateParams);
el.templateSend.addEventListener("click", () => {
  const template = selectedTemplate();
  if (!template || !state.current) return;
  const inputs = [...el.templateParams.querySelectorAll("input")];
  const missing = inputs.find((input) => !input.value.trim());
  if (missing) {
    toast(`Fill in ${missing.getAttribute("aria-label")} of the template.`);
    missing.focus();
    return;
  }
  const content = { name: template.name, language: { code: template.language }, components: templateComponents() };
  for (const input of inputs) input.value = "";
  updateTemplatePreview();
  send({ type: "template", template: content }, { reply: null });
});

// --- the conversation menu ---------------------------------------------------------

function menuItems() {
  const c = state.current;
  const mine = c.assigned_user_id === ME.user_id;
  const items = [
    ["Contact info", showContactInfo],
    [c.is_favorite ? "Remove from favourites" : "Add to favourites", () => patch({ is_favorite: !c.is_favorite })],
    [c.is_archived ? "Unarchive" : "Archive", () => patch({ is_archived: !c.is_archived })],
  ];
  if (!mine) items.push(["Assign to me", () => patch({ assigned_user_id: ME.user_id })]);
  if (c.assigned_user_id && (IS_ADMIN || mine)) items.push(["Unassign", () => patch({ assigned_user_id: null })]);
  if (IS_ADMIN) {
    items.push(["Assign to…", showAssign]);
    items.push(["Clear messages", confirmClear, "menu-danger"]);
    items.push(["Delete chat", confirmDelete, "menu-danger"]);
  }
  return items;
}

function openMenu() {
  if (!state.current) return;
  el.menu.replaceChildren(
    ...menuItems().map(([label, action, kind]) => {
      const item = h("li", { role: "menuitem", tabindex: "-1", class: kind ? `menu-item ${kind}` : "menu-item", text: label });
      item.addEventListener("click", () => {
        closeMenu(false);
        action();
      });
      return item;
    }),
  );
  el.menu.hidden = false;
  el.menuButton.setAttribute("aria-expanded", "true");
  el.menu.firstElementChild.focus();
}

function closeMenu(restoreFocus = false) {
  if (el.menu.hidden) return;
  el.menu.hidden = true;
  el.menuButton.setAttribute("aria-expanded", "false");
  if (restoreFocus) el.menuButton.focus();
}

el.menuButton.addEventListener("click", () => (el.menu.hidden ? openMenu() : closeMenu(true)));
el.menuButton.addEventListener("keydown", (event) => {
  if ((event.key === "ArrowDown" || event.key === "ArrowUp") && el.menu.hidden) {
    event.preventDefault();
    openMenu();
    if (event.key === "ArrowUp") el.menu.lastElementChild.focus();
  }
});
el.menu.addEventListener("keydown", (event) => {
  const items = [...el.menu.children];
  const at = items.indexOf(document.activeElement);
  let next = null;
  if (event.key === "ArrowDown") next = items[(at + 1) % items.length];
  else if (event.key === "ArrowUp") next = items[(at - 1 + items.length) % items.length];
  else if (event.key === "Home") next = items[0];
  else if (event.key === "End") next = items[items.length - 1];
  else if (event.key === "Escape") {
    event.preventDefault();
    event.stopPropagation();
    closeMenu(true);
    return;
  } else if (event.key === "Tab") {
    closeMenu(false);
    return;
  } else if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    if (at >= 0) items[at].click();
    return;
  } else if (event.key.length === 1) {
    const letter = event.key.toLowerCase();
    next = items.slice(at + 1).concat(items.slice(0, at + 1)).find((item) => item.textContent.toLowerCase().startsWith(letter));
  }
  if (next) {
    event.preventDefault();
    next.focus();
  }
});
document.addEventListener("pointerdown", (event) => {
  if (!el.menu.hidden && !el.menu.contains(event.target) && !el.menuButton.contains(event.target)) closeMenu(false);
});

async function patch(changes) {
  const c = state.current;
  if (!c) return;
  try {
    const updated = await api("PATCH", `/v1/conversations/${c.id}`, { body: changes });
    applyConversation(updated);
    if ("is_archived" in changes) toast(changes.is_archived ? "Chat archived." : "Chat unarchived.", { kind: "info", timeout: 3000 });
  } catch {
    // the toast says why
  }
  if (state.current) el.menuButton.focus();
}

// --- dialogs -----------------------------------------------------------------------

function openDialog(dialog, focus) {
  dialog.showModal();
  if (focus) focus.focus();
}

for (const dialog of document.querySelectorAll("dialog")) {
  dialog.addEventListener("click", (event) => {
    if (event.target.closest("[data-close]")) dialog.close("cancel");
    else if (event.target === dialog) dialog.close("cancel"); // a click on the backdrop
  });
}

function showContactInfo() {
  const c = state.current;
  if (!c) return;
  const dialog = $("info-dialog");
  fillAvatar($("info-avatar"), c.contact);
  $("info-name").textContent = contactLabel(c.contact);
  $("info-phone").textContent = c.contact.name ? c.contact.phone : "";
  const until = parseDate(c.window_expires_at);
  const rows = [
    ["Phone", c.contact.phone],
    ["Type", c.contact.is_group ? "Group" : "Contact"],
    ["Assignment", assigneeText(c)],
    ["Favourite", c.is_favorite ? "Yes" : "No"],
    ["Archived", c.is_archived ? "Yes" : "No"],
    ["24-hour window", windowOpen(c) ? `Open until ${fullTime(until)}` : "Closed: templates only"],
    ["Unread", String(c.unread_count || 0)],
    ["Chat started", fullTime(parseDate(c.created_at))],
  ];
  $("info-list").replaceChildren(...rows.flatMap(([term, value]) => [h("dt", { text: term }), h("dd", { text: value || "—" })]));
  openDialog(dialog, dialog.querySelector("[data-close]"));
}

function showAssign() {
  const c = state.current;
  if (!c) return;
  const select = $("assign-agent");
  select.replaceChildren(
    ...(boot.users || []).map((u) =>
      h("option", { value: u.id, text: u.name, title: u.role === "admin" ? "Admin" : "Agent" }),
    ),
  );
  if (c.assigned_user_id) select.value = c.assigned_user_id;
  openDialog($("assign-dialog"), select);
}

$("assign-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("assign-agent").value;
  $("assign-dialog").close();
  if (value) patch({ assigned_user_id: value });
});

let confirmAction = null;
function confirm(title, text, okLabel, action) {
  $("confirm-dialog-title").textContent = title;
  $("confirm-dialog-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  confirmAction = action;
  openDialog($("confirm-dialog"), $("confirm-dialog").querySelector("[data-close]"));
}
$("confirm-form").addEventListener("submit", (event) => {
  event.preventDefault();
  $("confirm-dialog").close();
  const action = confirmAction;
  confirmAction = null;
  if (action) action();
});
$("confirm-dialog").addEventListener("close", () => {
  if (confirmAction && state.current) el.menuButton.focus();
  confirmAction = null;
});

function confirmClear() {
  const c = state.current;
  confirm("Clear messages?", `Every message of ${contactLabel(c.contact)} disappears from this chat for everyone in ${boot.company?.name || "the company"}. Messages not sent yet are cancelled.`, "Clear", async () => {
    try {
      const updated = await api("POST", `/v1/conversations/${c.id}/clear`);
      if (state.current && state.current.id === c.id) {
        resetMessages();
        el.older.textContent = "No messages yet";
      }
      applyConversation(updated);
      toast("Messages cleared.", { kind: "info", timeout: 3000 });
    } catch {
      // the toast says why
    }
  });
}

function confirmDelete() {
  const c = state.current;
  confirm("Delete chat?", `The chat with ${contactLabel(c.contact)} and its messages are deleted. A new message from or to this number starts it again, empty.`, "Delete", async () => {
    try {
      await api("DELETE", `/v1/conversations/${c.id}`);
      removeRow(c.id);
      if (state.current && state.current.id === c.id) closeConversation();
      toast("Chat deleted.", { kind: "info", timeout: 3000 });
      el.search.focus();
    } catch {
      // the toast says why
    }
  });
}

// New message: a phone and a first message; opens the phone's conversation.
const newDialog = $("new-dialog");
$("new-chat").addEventListener("click", () => {
  $("new-error").hidden = true;
  $("new-error").textContent = "";
  openDialog(newDialog, $("new-phone"));
});

function newError(text, field) {
  const error = $("new-error");
  error.textContent = text;
  error.hidden = false;
  if (field) field.focus();
}

$("new-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const phoneInput = $("new-phone");
  const textInput = $("new-text");
  const phone = phoneInput.value.trim();
  const body = textInput.value;
  $("new-error").hidden = true;
  if (!phone) return newError("Enter the phone number, with its country code.", phoneInput);
  if (!/\d/.test(phone)) return newError("A phone number has digits: +44 7700 900123, for example.", phoneInput);
  if (!body.trim()) return newError("Write the first message.", textInput);
  const submit = $("new-submit");
  submit.disabled = true;
  try {
    const answer = await api("POST", "/v1/messages", {
      body: { to: phone, type: "text", text: { body } },
      headers: { "Idempotency-Key": newKey() },
    });
    const conversation = await api("GET", `/v1/conversations/${answer.conversation_id}`);
    newDialog.close();
    phoneInput.value = "";
    textInput.value = "";
    if (conversation.is_archived && !state.archived) toast("That chat is archived: it is shown from the Archived list.", { kind: "info" });
    upsertRow(conversation);
    if (state.current && state.current.id === conversation.id) {
      resetMessages();
      state.current = null;
    }
    await openConversation(conversation.id, { conversation });
  } catch (error) {
    // The toast says why; the field it names gets the focus.
    if (error && error.details && error.details.to) phoneInput.focus();
    else if (error && error.details && error.details.text) textInput.focus();
  } finally {
    submit.disabled = false;
  }
});

// Escape: a dialog closes itself; otherwise cancel a reply, close the menu.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || document.querySelector("dialog[open]")) return;
  if (!el.menu.hidden) {
    closeMenu(true);
  } else if (state.replyTo) {
    setReply(null);
  }
});

// --- the live stream ---------------------------------------------------------------

let source = null;
let lastEventId = null;
let reconnectTimer = null;
let wasDown = false;

/** Back after a drop: what changed meanwhile (should the stream not replay it all). */
async function resync() {
  try {
    const page = await api("GET", "/v1/conversations", {
      query: { filter: state.filter, archived: state.archived ? "true" : undefined, q: state.q.trim().slice(0, 100) || undefined, limit: LIST_PAGE },
      quiet: true,
    });
    for (const conversation of [...page.items].reverse()) upsertRow(conversation);
    const current = state.current;
    if (!current) return;
    const latest = await api("GET", `/v1/conversations/${current.id}/messages`, { query: { limit: MESSAGE_PAGE }, quiet: true });
    if (!state.current || state.current.id !== current.id) return;
    for (const message of [...latest.items].reverse()) applyMessage(message);
    refreshConversation(current.id, 0);
  } catch {
    // the next event or reconnection tries again
  }
}

function setConnection(live) {
  el.connection.textContent = live ? "Live" : "Reconnecting";
  el.connection.dataset.state = live ? "live" : "reconnecting";
}

function connect() {
  clearTimeout(reconnectTimer);
  if (source) source.close();
  const url = lastEventId ? `/v1/events/stream?last_event_id=${encodeURIComponent(lastEventId)}` : "/v1/events/stream";
  source = new EventSource(url, { withCredentials: true });
  source.addEventListener("open", () => {
    setConnection(true);
    if (wasDown) resync();
    wasDown = false;
  });
  source.addEventListener("error", () => {
    setConnection(false);
    wasDown = true;
    if (source.readyState === EventSource.CLOSED) {
      // Refused (an ended session is a 401) or dropped for good: check, then start again.
      reconnectTimer = setTimeout(async () => {
        try {
          await api("GET", "/v1/conversations", { query: { limit: 1 }, quiet: true });
        } catch {
          // a 401 has sent the page to sign-in; anything else: try the stream again
        }
        connect();
      }, 3000);
    }
  });
  for (const type of ["message.status", "message.received", "conversation.updated"]) {
    source.addEventListener(type, (event) => {
      if (event.lastEventId) lastEventId = event.lastEventId;
      let body;
      try {
        body = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!body || !body.data) return;
      if (type === "conversation.updated") applyConversation(body.data);
      else onMessageEvent(body.data, type);
    });
  }
}

function onMessageEvent(message, type) {
  if (!message || !message.id) return;
  if (state.current && message.conversation_id === state.current.id && !message.deleted_at) {
    applyMessage(message);
    if (type === "message.received" && message.direction === "inbound") {
      // Read as it arrives while the chat is open and seen.
      state.current.unread_count = Math.max(1, state.current.unread_count || 0);
    }
  }
  if (state.quoteCache.has(message.id)) state.quoteCache.set(message.id, message);
  if (message.conversation_id) refreshConversation(message.conversation_id, type === "message.received" ? 50 : 250);
  if (type === "message.received" && state.current && message.conversation_id === state.current.id) setTimeout(markRead, 100);
}

/** A message of the open conversation, as the stream reports it. */
function applyMessage(message) {
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

// --- start -------------------------------------------------------------------------

function start() {
  fillIcons();
  const meAvatar = $("me-avatar");
  meAvatar.replaceWith(avatar({ name: ME.name, phone: ME.user_id }, "avatar avatar-me"));
  setConnection(false);
  connect();
  loadTemplates();
  loadList({ reset: true });
  const wanted = location.hash.slice(1);
  if (UUID.test(wanted)) openConversation(wanted, { focus: false }).catch(() => {});
  else el.search.focus({ preventScroll: true });
}

window.addEventListener("pagehide", () => source && source.close());
window.addEventListener("error", (event) => {
  if (event.error && event.error.name === "ApiError") event.preventDefault();
});
window.addEventListener("unhandledrejection", (event) => {
  if (event.reason && (event.reason.name === "AbortError" || typeof event.reason.status === "number")) event.preventDefault();
  else if (event.reason) toast(describe(event.reason));
});

start();
