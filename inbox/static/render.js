// Turning API objects into DOM: conversation rows, message bubbles, template text.
// Messages are hostile input: everything goes in with textContent or as attribute values
// the page chose (media URLs are built from ids, links only for http(s)).

import { icon, ticks } from "./icons.js";
import { avatarColor, clockTime, fullTime, h, initials, listTime, parseDate } from "./util.js";

export function contactLabel(contact) {
  return (contact && (contact.name || contact.phone)) || "Unknown";
}

export function avatar(contact, className = "avatar") {
  const label = contactLabel(contact);
  const el = h("span", { class: className, "aria-hidden": "true" });
  el.style.setProperty("--avatar", avatarColor(contact ? contact.phone || label : label));
  const letters = contact && contact.name ? initials(contact.name) : "";
  if (contact && contact.is_group) el.append(icon("group"));
  else if (letters) el.dataset.initials = letters; // drawn by CSS: not part of any text
  else el.append(icon("person"));
  return el;
}

export function fillAvatar(el, contact) {
  const fresh = avatar(contact, el.className);
  el.replaceChildren(...fresh.childNodes);
  el.style.setProperty("--avatar", fresh.style.getPropertyValue("--avatar"));
  if (fresh.dataset.initials) el.dataset.initials = fresh.dataset.initials;
  else delete el.dataset.initials;
}

const PREVIEW_KIND = {
  image: "Photo",
  video: "Video",
  audio: "Audio",
  document: "Document",
  sticker: "Sticker",
  location: "Location",
  interactive: "Message",
  reaction: "Reaction",
  template: "Template",
};

/** The list's preview text: "[image] caption" reads as "Photo: caption". */
export function previewText(preview) {
  if (!preview) return "";
  const match = /^\[([a-z]+)\]\s?(.*)$/s.exec(preview);
  if (!match) return preview;
  const kind = PREVIEW_KIND[match[1]] || match[1];
  if (match[1] === "reaction") return match[2] ? `Reacted ${match[2]}` : "Removed a reaction";
  return match[2] ? `${kind}: ${match[2]}` : kind;
}

/** One row of the list: a listitem holding a button named by the contact first. */
export function conversationRow(conversation, { current = false } = {}) {
  const last = conversation.last_message;
  const at = parseDate((last && last.at) || conversation.activity_at);
  const unread = conversation.unread_count || 0;
  const name = contactLabel(conversation.contact);
  const preview = h("span", { class: "row-preview" });
  if (last && last.direction === "outbound") preview.append(ticks(last.status));
  preview.append(h("span", { class: "row-preview-text", text: last ? previewText(last.preview) : "" }));
  const meta = h("span", { class: "row-meta" });
  if (conversation.is_favorite) meta.append(h("span", { class: "row-star", "aria-label": "Favourite", role: "img" }, icon("star")));
  if (unread > 0) {
    meta.append(
      h("span", {
        class: "badge",
        "aria-label": `${unread} unread messages`, // the contract's words, even for 1
        text: unread > 999 ? "999+" : String(unread),
      }),
    );
  }
  // Named by the contact alone (so its name never reads like another control's); the
  // time, preview, ticks and badge describe it.
  const ref = `row-${conversation.id}`;
  const button = h(
    "button",
    {
      type: "button",
      class: "row",
      "aria-label": name,
      "aria-describedby": `${ref}-time ${ref}-bottom`,
      "aria-current": current ? "true" : null,
    },
    avatar(conversation.contact),
    h(
      "span",
      { class: "row-main" },
      h(
        "span",
        { class: "row-top" },
        h("span", { class: "row-name", text: name }),
        h("span", { class: unread > 0 ? "row-time unread" : "row-time", id: `${ref}-time`, text: listTime(at), title: fullTime(at) }),
      ),
      h("span", { class: "row-bottom", id: `${ref}-bottom` }, preview, meta),
    ),
  );
  return h("li", { class: "chat-item", dataset: { conversationId: conversation.id } }, button);
}

// --- message content ---------------------------------------------------------------

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/gi;

/** Text with its http(s) links made clickable (nodes, never markup). */
export function richText(text, className = "text") {
  const el = h("p", { class: className });
  const value = String(text ?? "");
  let at = 0;
  for (const match of value.matchAll(URL_PATTERN)) {
    if (match.index > at) el.append(value.slice(at, match.index));
    el.append(h("a", { href: match[0], target: "_blank", rel: "noopener noreferrer nofollow", text: match[0] }));
    at = match.index + match[0].length;
  }
  if (at < value.length) el.append(value.slice(at));
  return el;
}

function safeLink(value) {
  if (typeof value !== "string") return null;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

export function mediaUrl(media) {
  if (media && typeof media.id === "string" && media.id) return `/v1/media/${encodeURIComponent(media.id)}`;
  return null;
}

function str(value) {
  return typeof value === "string" ? value : "";
}

/** A template's parameter as the customer reads it. */
function parameterText(parameter) {
  if (!parameter || typeof parameter !== "object") return "";
  switch (parameter.type) {
    case "text":
      return str(parameter.text);
    case "currency":
      return str(parameter.currency && parameter.currency.fallback_value);
    case "date_time":
      return str(parameter.date_time && parameter.date_time.fallback_value);
    case "payload":
      return str(parameter.payload);
    default:
      return `[${parameter.type}]`;
  }
}

/** Replace {{1}}, {{2}}... (or named variables, in order) with the parameters given. */
export function fillVariables(text, parameters) {
  const values = (parameters || []).map(parameterText);
  const order = [];
  return String(text || "").replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (whole, name) => {
    let index = /^\d+$/.test(name) ? Number(name) - 1 : order.indexOf(name);
    if (index < 0) {
      order.push(name);
      index = order.length - 1;
    }
    return index >= 0 && index < values.length && values[index] !== "" ? values[index] : whole;
  });
}

/** The distinct variables of a template text, in order: ["1", "2"] or ["name", ...]. */
export function variablesOf(text) {
  const seen = [];
  for (const match of String(text || "").matchAll(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g)) {
    if (!seen.includes(match[1])) seen.push(match[1]);
  }
  return seen.sort((a, b) => (/^\d+$/.test(a) && /^\d+$/.test(b) ? Number(a) - Number(b) : 0));
}

export function templateParts(template) {
  const parts = {};
  for (const component of (template && template.components) || []) {
    if (component && typeof component === "object") parts[String(component.type || "").toUpperCase()] = component;
  }
  return parts;
}

/** A template message as text: header, body and footer with the parameters filled in. */
export function renderTemplateText(content, catalogue) {
  const language = content.language && content.language.code;
  const template = (catalogue || []).find((t) => t.name === content.name && t.language === language)
    || (catalogue || []).find((t) => t.name === content.name);
  const given = {};
  for (const component of content.components || []) given[component.type] = component.parameters || [];
  if (!template) {
    const values = (given.body || []).map(parameterText).filter(Boolean);
    return { header: null, body: values.length ? values.join(" · ") : null, footer: null, buttons: [], known: false };
  }
  const parts = templateParts(template);
  const header = parts.HEADER && str(parts.HEADER.format || "TEXT").toUpperCase() === "TEXT"
    ? fillVariables(parts.HEADER.text, given.header)
    : null;
  const buttons = (parts.BUTTONS && Array.isArray(parts.BUTTONS.buttons) ? parts.BUTTONS.buttons : [])
    .map((button) => str(button && button.text))
    .filter(Boolean);
  return {
    header,
    body: parts.BODY ? fillVariables(parts.BODY.text, given.body) : null,
    footer: parts.FOOTER ? str(parts.FOOTER.text) : null,
    buttons,
    known: true,
  };
}

/** A short description of a message, for quotes and the reply preview. */
export function snippet(message) {
  if (!message) return "";
  const content = message.content && typeof message.content === "object" ? message.content : {};
  switch (message.type) {
    case "text":
      return str(content.body) || str(message.text);
    case "image":
      return str(content.caption) || "Photo";
    case "video":
      return str(content.caption) || "Video";
    case "audio":
      return "Audio";
    case "sticker":
      return "Sticker";
    case "document":
      return str(content.filename) || str(content.caption) || "Document";
    case "template":
      return `Template: ${str(content.name)}`;
    case "location":
      return str(content.name) || "Location";
    case "reaction":
      return `Reacted ${str(content.emoji)}`;
    default:
      return str(message.text) || `[${message.type || "message"}]`;
  }
}

/** The nodes of a message's body, by type. */
export function contentNodes(message, catalogue) {
  const content = message.content && typeof message.content === "object" ? message.content : {};
  const nodes = [];
  const caption = str(content.caption);
  switch (message.type) {
    case "text":
      nodes.push(richText(str(content.body) || str(message.text)));
      break;
    case "image":
    case "sticker": {
      const src = message.localUrl || mediaUrl(content);
      const alt = caption || (message.type === "sticker" ? "Sticker" : "Image");
      if (src) {
        const img = h("img", { src, alt, loading: "lazy", decoding: "async", class: message.type === "sticker" ? "sticker" : "photo" });
        const shown = message.localUrl ? img : h("a", { href: src, target: "_blank", rel: "noopener", class: "photo-link" }, img);
        // Gone at the provider (or never fetched): say so instead of a broken picture.
        img.addEventListener("error", () => shown.replaceWith(h("p", { class: "media-missing", text: `${message.type === "sticker" ? "Sticker" : "Image"} not available` })), { once: true });
        nodes.push(shown);
      } else {
        const link = safeLink(content.link);
        nodes.push(link ? h("a", { href: link, target: "_blank", rel: "noopener noreferrer", class: "media-link", text: alt }) : h("p", { class: "muted", text: alt }));
      }
      if (caption) nodes.push(richText(caption, "text caption"));
      break;
    }
    case "video":
    case "audio": {
      const src = mediaUrl(content) || safeLink(content.link);
      if (src) nodes.push(h(message.type, { src, controls: true, preload: "metadata", class: message.type }));
      else nodes.push(h("p", { class: "muted", text: message.type === "video" ? "Video" : "Audio" }));
      if (caption) nodes.push(richText(caption, "text caption"));
      break;
    }
    case "document": {
      const name = str(content.filename) || caption || "Document";
      const href = message.localUrl || mediaUrl(content) || safeLink(content.link);
      const label = h("span", { class: "doc-name", text: name });
      const box = href
        ? h("a", { href, download: str(content.filename) || "", class: "doc", target: "_blank", rel: "noopener" }, icon("doc", "icon doc-icon"), label)
        : h("span", { class: "doc" }, icon("doc", "icon doc-icon"), label);
      nodes.push(box);
      if (caption && caption !== name) nodes.push(richText(caption, "text caption"));
      break;
    }
    case "template": {
      const rendered = renderTemplateText(content, catalogue);
      nodes.push(h("p", { class: "template-tag" }, icon("template", "icon tiny"), `Template · ${str(content.name)}`));
      if (rendered.header) nodes.push(h("p", { class: "template-header", text: rendered.header }));
      if (rendered.body) nodes.push(richText(rendered.body));
      if (rendered.footer) nodes.push(h("p", { class: "template-footer", text: rendered.footer }));
      if (rendered.buttons.length) nodes.push(h("div", { class: "template-buttons" }, rendered.buttons.map((b) => h("span", { text: b }))));
      break;
    }
    case "location": {
      const lat = Number(content.latitude);
      const lon = Number(content.longitude);
      const label = [str(content.name), str(content.address)].filter(Boolean).join(", ") || `${lat}, ${lon}`;
      const href = Number.isFinite(lat) && Number.isFinite(lon)
        ? `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`
        : null;
      nodes.push(h("p", { class: "location" }, icon("location", "icon"), href ? h("a", { href, target: "_blank", rel: "noopener noreferrer", text: label }) : label));
      break;
    }
    case "interactive": {
      const inner = content;
      if (inner.button_reply || inner.list_reply) {
        const reply = inner.button_reply || inner.list_reply;
        nodes.push(richText(str(reply.title) || str(message.text)));
      } else {
        if (inner.header && inner.header.text) nodes.push(h("p", { class: "template-header", text: str(inner.header.text) }));
        nodes.push(richText(str(inner.body && inner.body.text) || str(message.text)));
        if (inner.footer && inner.footer.text) nodes.push(h("p", { class: "template-footer", text: str(inner.footer.text) }));
        const action = inner.action || {};
        const labels = Array.isArray(action.buttons)
          ? action.buttons.map((b) => str(b && b.reply && b.reply.title))
          : [str(action.button)];
        if (labels.filter(Boolean).length) nodes.push(h("div", { class: "template-buttons" }, labels.filter(Boolean).map((b) => h("span", { text: b }))));
      }
      break;
    }
    case "reaction":
      nodes.push(h("p", { class: "reaction" }, str(content.emoji) ? `Reacted ${str(content.emoji)}` : "Removed a reaction"));
      break;
    case "button":
      nodes.push(richText(str(content.text) || str(message.text)));
      break;
    default:
      nodes.push(richText(str(message.text) || str(content.body) || `[${message.type || "message"}]`));
  }
  return nodes;
}

/** The time and (outbound) ticks at the foot of a bubble. */
export function bubbleMeta(message) {
  const at = parseDate(message.created_at) || new Date();
  const meta = h("span", { class: "meta" }, h("time", { datetime: at.toISOString(), title: fullTime(at), text: clockTime(at) }));
  if (message.direction === "outbound") meta.append(ticks(message.status));
  return meta;
}
