// The closed 24-hour window: the note that says so, and the form that sends one of the
// company's approved templates instead (WhatsApp delivers nothing else until the contact writes).

import { api, toast } from "./api.js";
import { renderMessage } from "./bubble.js";
import { windowOpen } from "./chat.js";
import { contactLabel, renderTemplateText, templateParts, variablesOf } from "./render.js";
import { send } from "./sending.js";
import { WINDOW_HOURS, el, on, state } from "./state.js";
import { h } from "./util.js";

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

export async function loadTemplates() {
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
  // Redrawn only when the catalogue changed: the periodic check must not wipe what is typed.
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

function sendTemplate() {
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
  send({ type: "template", template: content });
}

export function initTemplates() {
  on("chat-shown", renderWindow);
  // The window closes by itself 24 hours after the contact's last message.
  setInterval(renderWindow, 30000);
  el.templateSelect.addEventListener("change", renderTemplateParams);
  el.templateSend.addEventListener("click", sendTemplate);
}
