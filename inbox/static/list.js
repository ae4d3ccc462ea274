// The conversation list: filters, search, archived, pages loaded on scroll, and rows kept in
// place (newest activity first) as conversations change.

import { api } from "./api.js";
import { conversationRow } from "./render.js";
import { LIST_PAGE, el, emit, state } from "./state.js";
import { debounce } from "./util.js";

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

export function rowElement(id) {
  return el.chats.querySelector(`li[data-conversation-id="${CSS.escape(id)}"]`);
}

function renderRow(conversation) {
  const row = conversationRow(conversation, { current: state.current && state.current.id === conversation.id });
  row.querySelector("button").addEventListener("click", () => emit("open-chat", conversation.id));
  return row;
}

/** Put a conversation where it belongs in the list (or take it out). */
export function upsertRow(conversation) {
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

export function removeRow(id) {
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

/** The query of the list's first page as its filter, archived toggle and search choose it. */
export function listQuery() {
  return {
    filter: state.filter,
    archived: state.archived ? "true" : undefined,
    q: state.q.trim().slice(0, 100) || undefined,
    limit: LIST_PAGE,
  };
}

export async function loadList({ reset = false } = {}) {
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
    const page = await api("GET", "/v1/conversations", { query: { ...listQuery(), cursor: state.cursor || undefined } });
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

function setFilter(filter) {
  state.filter = filter;
  for (const chip of el.filters.querySelectorAll("[data-filter]")) {
    chip.setAttribute("aria-pressed", String(chip.dataset.filter === filter));
  }
  loadList({ reset: true });
}

export function initList() {
  new IntersectionObserver(
    (entries) => {
      if (entries.some((entry) => entry.isIntersecting)) loadList();
    },
    { root: el.chatScroll, rootMargin: "0px 0px 300px 0px" },
  ).observe(el.sentinel);

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
}
