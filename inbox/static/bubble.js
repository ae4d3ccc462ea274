// One message of the open chat as an article: its bubble (with the quote it answers), its
// Reply button, its ticks and, when it failed, the reason and a Retry button.

import { api } from "./api.js";
import { icon, ticks } from "./icons.js";
import { bubbleMeta, contactLabel, contentNodes, snippet } from "./render.js";
import { el, emit, state } from "./state.js";
import { h } from "./util.js";

// Quoted messages not in the open chat's log (and the requests that fetch them), by id.
const quoteCache = new Map();

/** The message's article in the log, if it is shown. */
export function articleFor(id) {
  return el.messages.querySelector(`article[data-message-id="${CSS.escape(id)}"]`);
}

/** One message: an article with its id, status and direction. */
export function renderMessage(message) {
  const outbound = message.direction === "outbound";
  const bubble = h("div", { class: `bubble bubble-${message.type || "text"}` });
  if (message.reply_to) bubble.append(quoteFor(message.reply_to));
  bubble.append(...contentNodes(message, state.templates), bubbleMeta(message));
  const article = h(
    "article",
    {
      class: `msg ${outbound ? "out" : "in"}`,
      dataset: { messageId: message.id, status: message.status || "sending", direction: message.direction || "outbound" },
    },
    bubble,
  );
  // Our own message still on its way has no id to answer yet.
  if (!message.id.startsWith("local-")) addReplyButton(article, message);
  decorateFailure(article, message);
  return article;
}

function addReplyButton(article, message) {
  const reply = h("button", { type: "button", class: "msg-action", "aria-label": "Reply", title: "Reply" }, icon("reply"));
  // The article's id, not the closure's: an optimistic bubble changes its id once sent.
  reply.addEventListener("click", () => emit("reply", state.messages.get(article.dataset.messageId) || message));
  article.append(reply);
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

/** A shown message's new status: its ticks and failure, nothing else redrawn. */
export function updateArticle(message) {
  const article = articleFor(message.id);
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
export function adoptLocal(article, message) {
  article.dataset.messageId = message.id;
  if (!article.querySelector(".msg-action")) addReplyButton(article, message);
  updateArticle(message);
}

/** A newer view of a message that a quote may show later. */
export function updateQuoted(message) {
  if (quoteCache.has(message.id)) quoteCache.set(message.id, message);
}

// Replies: the quote of the message answered (fetched when it is not on screen).
function quoteFor(id) {
  const quote = h("button", { type: "button", class: "quote" });
  const fill = (message) => {
    const author = !message ? "" : message.direction === "outbound" ? "You" : contactLabel(state.current && state.current.contact);
    quote.replaceChildren(
      h("span", { class: "quote-author", text: author || "Message" }),
      h("span", { class: "quote-text", text: message ? snippet(message) || " " : "Message not available" }),
    );
    quote.classList.toggle("quote-out", Boolean(message && message.direction === "outbound"));
  };
  const known = state.messages.get(id) || quoteCache.get(id);
  if (known) fill(known);
  else {
    fill(null);
    quote.querySelector(".quote-text").textContent = "…";
    let pending = quoteCache.get(`promise:${id}`);
    if (!pending) {
      pending = api("GET", `/v1/messages/${id}`, { quiet: true }).catch(() => null);
      quoteCache.set(`promise:${id}`, pending);
    }
    pending.then((message) => {
      if (message) quoteCache.set(id, message);
      fill(message);
    });
  }
  quote.addEventListener("click", () => {
    const target = articleFor(id);
    if (target) {
      target.scrollIntoView({ block: "center", behavior: "smooth" });
      target.classList.remove("flash");
      void target.offsetWidth; // restarts the flash animation
      target.classList.add("flash");
    }
  });
  return quote;
}
