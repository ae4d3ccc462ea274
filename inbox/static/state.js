// What the inbox's modules share: the page's elements, who is signed in, what the list and the
// open chat hold, and a small event hub for the calls that would otherwise import in a circle.

import { boot } from "./api.js";

export const $ = (id) => document.getElementById(id);
export const ME = boot.me || {};
export const IS_ADMIN = ME.role === "admin";
export const WINDOW_HOURS = boot.window_hours || 24;
export const LIST_PAGE = 30;
export const MESSAGE_PAGE = 40;
export const PHONE_LAYOUT = window.matchMedia("(max-width: 760px)");

export const el = {
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

export const state = {
  // The list
  filter: "all",
  archived: false,
  q: "",
  rows: new Map(), // conversation id -> conversation, as the list shows it
  cursor: null,
  listLoading: false,
  listGeneration: 0, // bumped by a new filter or search: answers for an older one are dropped
  listDone: false,
  // The open chat
  current: null, // the open conversation
  messages: new Map(), // message id -> message, of the open conversation
  messageCursor: null,
  messagesLoading: false,
  chatGeneration: 0, // bumped by opening or closing a chat: answers for the last one are dropped
  pendingSends: 0,
  early: new Map(), // events for ids not shown yet, while our own sends are in flight
  eventSeen: new Set(),
  replyTo: null,
  templates: [],
};

// The hub's events. Each is emitted by a module that the listener's module imports (directly
// or not), so a plain call the other way would be an import cycle.
const EVENTS = {
  "open-chat": "a row of the list was chosen (id); the chat opens it",
  "chat-opened": "a chat is shown ({ id, switching }); the composer and the menu reset",
  "chat-closed": "no chat is shown any more; the menu closes",
  "chat-shown": "the open chat's conversation was (re)drawn; the closed-window note follows it",
  reply: "a message's Reply button (message); the composer quotes it",
};
const listeners = new Map();

export function on(event, listener) {
  if (!(event in EVENTS)) throw new Error(`unknown inbox event ${event}`);
  if (!listeners.has(event)) listeners.set(event, []);
  listeners.get(event).push(listener);
}

export function emit(event, detail) {
  if (!(event in EVENTS)) throw new Error(`unknown inbox event ${event}`);
  for (const listener of listeners.get(event) || []) listener(detail);
}
