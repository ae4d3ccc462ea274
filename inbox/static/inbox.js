// The inbox page: the conversation list, the open chat, the composer and the live stream.
// Plain modules, no framework. Data from the API only ever reaches the page as text.
// This entry point wires the modules together and starts the page.

import { describe, toast } from "./api.js";
import { initChat, openConversation } from "./chat.js";
import { initComposer, setReply } from "./composer.js";
import { initDialogs } from "./dialogs.js";
import { fillIcons } from "./icons.js";
import { initList, loadList } from "./list.js";
import { connect, initLive, setConnection } from "./live.js";
import { closeMenu, initMenu } from "./menu.js";
import { initMessages } from "./messages.js";
import { avatar } from "./render.js";
import { $, ME, el, state } from "./state.js";
import { initTemplates, loadTemplates } from "./templates.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function wire() {
  initList();
  initChat();
  initMessages();
  initComposer();
  initTemplates();
  initMenu();
  initDialogs();
  initLive();

  // Escape: a dialog closes itself; otherwise cancel a reply, close the menu.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || document.querySelector("dialog[open]")) return;
    if (!el.menu.hidden) {
      closeMenu(true);
    } else if (state.replyTo) {
      setReply(null);
    }
  });

  // API errors have had their toast already; an abort is no error.
  window.addEventListener("unhandledrejection", (event) => {
    if (event.reason && (event.reason.name === "AbortError" || typeof event.reason.status === "number")) event.preventDefault();
    else if (event.reason) toast(describe(event.reason));
  });
}

function start() {
  fillIcons();
  $("me-avatar").replaceWith(avatar({ name: ME.name, phone: ME.user_id }, "avatar avatar-me"));
  setConnection(false);
  connect();
  loadTemplates();
  loadList({ reset: true });
  const wanted = location.hash.slice(1);
  if (UUID.test(wanted)) openConversation(wanted, { focus: false }).catch(() => {});
  else el.search.focus({ preventScroll: true });
}

wire();
start();
