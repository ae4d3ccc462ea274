// Sending a message in the open chat: it shows at once as Sending, then becomes the server's
// message, whichever of the API's answer and the events stream arrives first.

import { api, newKey } from "./api.js";
import { adoptLocal, articleFor, renderMessage, updateArticle } from "./bubble.js";
import { refreshConversation } from "./chat.js";
import { appendMessage, applyMessage, flushEarly } from "./messages.js";
import { state } from "./state.js";

/**
 * Send a message in the open conversation: it shows at once as Sending, then as the
 * server has it. `prepare` (an upload) runs first and returns the typed object.
 */
export async function send(typed, { onError = null, reply = null, prepare = null, localUrl = null } = {}) {
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
  const article = articleFor(localId);
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

/** A send that failed: its bubble goes, and its date separator if it was the day's only one. */
function dropLocal(localId) {
  state.messages.delete(localId);
  const article = articleFor(localId);
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
      const article = articleFor(id);
      // A document's link moves from the file picked to the server's copy; the rest stays.
      if (article && fresh.type === "document") article.replaceWith(renderMessage(fresh));
      else updateArticle(fresh);
    }
  } catch {
    // the stream carries its statuses anyway
  }
}
