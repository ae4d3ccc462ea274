// The open chat: opening and closing it, its header, marking it read, the phone layout's Back,
// and newer views of a conversation (from the API or the stream) reaching the list and the chat.

import { api, boot, toast } from "./api.js";
import { removeRow, rowElement, upsertRow } from "./list.js";
import { loadMessages, markUnread, resetMessages } from "./messages.js";
import { contactLabel, fillAvatar } from "./render.js";
import { $, ME, PHONE_LAYOUT, el, emit, on, state } from "./state.js";
import { parseDate } from "./util.js";

export function assigneeText(conversation) {
  if (!conversation.assigned_user_id) return "Unassigned";
  const name = (conversation.assignee && conversation.assignee.name)
    || (boot.users || []).find((u) => u.id === conversation.assigned_user_id)?.name
    || "someone";
  return `Assigned to ${name}`;
}

/** Whether the contact wrote in the last 24 hours, so WhatsApp delivers more than templates. */
export function windowOpen(conversation) {
  const until = parseDate(conversation && conversation.window_expires_at);
  return Boolean(until && until.getTime() > Date.now());
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

function setView(view) {
  el.app.dataset.view = view;
}

export function closeConversation() {
  state.chatGeneration += 1;
  state.current = null;
  resetMessages();
  emit("chat-closed");
  el.conversation.hidden = true;
  el.empty.hidden = false;
  setView("list");
  for (const current of el.chats.querySelectorAll('[aria-current="true"]')) current.removeAttribute("aria-current");
  document.title = `Inbox · ${boot.company?.name || ""}`;
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
}

export async function openConversation(id, { conversation = null, focus = true } = {}) {
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
  if (switching) resetMessages();
  emit("chat-opened", { id, switching });
  el.empty.hidden = true;
  el.conversation.hidden = false;
  setView("chat");
  for (const item of el.chats.children) {
    const button = item.querySelector("button");
    if (item.dataset.conversationId === id) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
  renderHeader();
  emit("chat-shown");
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

let reading = null; // the conversation whose read is in flight: one request at a time
export async function markRead() {
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

function backToList() {
  const id = state.current && state.current.id;
  setView("list");
  const row = id && rowElement(id);
  (row ? row.querySelector("button") : el.search).focus();
}

/** A newer view of a conversation (from the API or the stream). */
export function applyConversation(conversation) {
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
    emit("chat-shown");
    if (wasCleared && ![...state.messages.keys()].some((id) => id.startsWith("local-"))) {
      resetMessages();
      loadMessages();
    }
  }
}

// Row refreshes after events: one GET per conversation per burst.
const refreshTimers = new Map();

export function refreshConversation(id, delay = 200) {
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

/** Change the open conversation (favourite, archived, assignee) and show the answer. */
export async function patchConversation(changes) {
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

export function initChat() {
  on("open-chat", (id) => openConversation(id));
  document.addEventListener("visibilitychange", markRead);
  window.addEventListener("focus", markRead);
  $("back").addEventListener("click", () => {
    if (history.state && history.state.chat) history.back(); // popstate goes back to the list
    else backToList();
  });
  window.addEventListener("popstate", () => {
    if (el.app.dataset.view === "chat" && PHONE_LAYOUT.matches) backToList();
  });
}
