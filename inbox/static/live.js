// The events stream: statuses and new messages as they happen, conversation changes, the
// Connection status, and a resync after a drop.

import { api } from "./api.js";
import { updateQuoted } from "./bubble.js";
import { applyConversation, markRead, refreshConversation } from "./chat.js";
import { listQuery, upsertRow } from "./list.js";
import { applyMessage } from "./messages.js";
import { MESSAGE_PAGE, el, state } from "./state.js";

let source = null;
let lastEventId = null;
let reconnectTimer = null;
let wasDown = false;

/** Back after a drop: what changed meanwhile (should the stream not replay it all). */
async function resync() {
  try {
    const page = await api("GET", "/v1/conversations", { query: listQuery(), quiet: true });
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

export function setConnection(live) {
  el.connection.textContent = live ? "Live" : "Reconnecting";
  el.connection.dataset.state = live ? "live" : "reconnecting";
}

export function connect() {
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
  updateQuoted(message);
  if (message.conversation_id) refreshConversation(message.conversation_id, type === "message.received" ? 50 : 250);
  if (type === "message.received" && state.current && message.conversation_id === state.current.id) setTimeout(markRead, 100);
}

export function initLive() {
  window.addEventListener("pagehide", () => source && source.close());
}
