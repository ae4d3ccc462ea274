// The composer: the text box (with a draft kept per chat), the message it replies to, and
// attachments picked or dropped on the chat (uploaded to /v1/media, then sent by id).

import { api } from "./api.js";
import { contactLabel, snippet } from "./render.js";
import { send } from "./sending.js";
import { $, el, on, state } from "./state.js";
import { h } from "./util.js";

const drafts = new Map(); // conversation id -> text typed and not sent

function autoGrow() {
  el.text.style.height = "auto";
  el.text.style.height = `${Math.min(el.text.scrollHeight, 140)}px`;
  el.composer.classList.toggle("has-text", el.text.value.trim() !== "");
}

/** Quote a message above the text box (null: none). */
export function setReply(message) {
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

function sendText(event) {
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
      // Give the text back, unless something new was typed meanwhile.
      if (!el.text.value) {
        el.text.value = body;
        autoGrow();
      }
    },
    reply,
  });
}

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

export function initComposer() {
  on("reply", setReply);
  on("chat-opened", ({ id, switching }) => {
    if (!switching) return;
    setReply(null);
    el.text.value = drafts.get(id) || "";
    autoGrow();
  });

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
  el.composer.addEventListener("submit", sendText);
  $("reply-cancel").addEventListener("click", () => {
    setReply(null);
    el.text.focus();
  });

  $("attach").addEventListener("click", () => el.file.click());
  el.file.addEventListener("change", () => {
    const file = el.file.files && el.file.files[0];
    el.file.value = "";
    if (!file || !state.current) return;
    sendFile(file);
  });
  // Drop a file on the chat to send it.
  el.messages.addEventListener("dragover", (event) => {
    if (state.current && event.dataTransfer && [...event.dataTransfer.types].includes("Files")) event.preventDefault();
  });
  el.messages.addEventListener("drop", (event) => {
    if (!state.current || !event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    sendFile(event.dataTransfer.files[0]);
  });
}
