// The dialogs: Contact info, Assign conversation, the confirmation of Clear and Delete, and
// New message (a phone and a first message; it opens that phone's conversation).

import { api, boot, newKey, toast } from "./api.js";
import { applyConversation, assigneeText, closeConversation, openConversation, patchConversation, windowOpen } from "./chat.js";
import { removeRow, upsertRow } from "./list.js";
import { resetMessages } from "./messages.js";
import { contactLabel, fillAvatar } from "./render.js";
import { $, el, state } from "./state.js";
import { fullTime, h, parseDate } from "./util.js";

function openDialog(dialog, focus) {
  dialog.showModal();
  if (focus) focus.focus();
}

export function showContactInfo() {
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

export function showAssign() {
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

let confirmAction = null; // what the confirmation dialog's OK does
function confirm(title, text, okLabel, action) {
  $("confirm-dialog-title").textContent = title;
  $("confirm-dialog-text").textContent = text;
  $("confirm-ok").textContent = okLabel;
  confirmAction = action;
  openDialog($("confirm-dialog"), $("confirm-dialog").querySelector("[data-close]"));
}

export function confirmClear() {
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

export function confirmDelete() {
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

function newError(text, field) {
  const error = $("new-error");
  error.textContent = text;
  error.hidden = false;
  if (field) field.focus();
}

async function startChat(event) {
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
    $("new-dialog").close();
    phoneInput.value = "";
    textInput.value = "";
    if (conversation.is_archived && !state.archived) toast("That chat is archived: it is shown from the Archived list.", { kind: "info" });
    upsertRow(conversation);
    if (state.current && state.current.id === conversation.id) {
      // Open it afresh, so the message just sent shows.
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
}

export function initDialogs() {
  for (const dialog of document.querySelectorAll("dialog")) {
    dialog.addEventListener("click", (event) => {
      if (event.target.closest("[data-close]")) dialog.close("cancel");
      else if (event.target === dialog) dialog.close("cancel"); // a click on the backdrop
    });
  }

  // The chat's header opens its contact info.
  $("chat-who").addEventListener("click", () => showContactInfo());
  document.querySelector(".chat-title").addEventListener("click", (event) => {
    if (!event.target.closest("button")) showContactInfo();
  });

  $("assign-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("assign-agent").value;
    $("assign-dialog").close();
    if (value) patchConversation({ assigned_user_id: value });
  });

  $("confirm-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("confirm-dialog").close();
    const action = confirmAction;
    confirmAction = null;
    if (action) action();
  });
  $("confirm-dialog").addEventListener("close", () => {
    // Cancelled: back to the menu button the dialog came from.
    if (confirmAction && state.current) el.menuButton.focus();
    confirmAction = null;
  });

  $("new-chat").addEventListener("click", () => {
    $("new-error").hidden = true;
    $("new-error").textContent = "";
    openDialog($("new-dialog"), $("new-phone"));
  });
  $("new-form").addEventListener("submit", startChat);
}
