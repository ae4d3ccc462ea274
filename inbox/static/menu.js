// The conversation menu: its items for this user's role, and the keys of a WAI-ARIA menu
// (arrows, Home, End, first letter, Escape back to its button).

import { patchConversation } from "./chat.js";
import { confirmClear, confirmDelete, showAssign, showContactInfo } from "./dialogs.js";
import { IS_ADMIN, ME, el, on, state } from "./state.js";
import { h } from "./util.js";

function menuItems() {
  const c = state.current;
  const mine = c.assigned_user_id === ME.user_id;
  const items = [
    ["Contact info", showContactInfo],
    [c.is_favorite ? "Remove from favourites" : "Add to favourites", () => patchConversation({ is_favorite: !c.is_favorite })],
    [c.is_archived ? "Unarchive" : "Archive", () => patchConversation({ is_archived: !c.is_archived })],
  ];
  if (!mine) items.push(["Assign to me", () => patchConversation({ assigned_user_id: ME.user_id })]);
  if (c.assigned_user_id && (IS_ADMIN || mine)) items.push(["Unassign", () => patchConversation({ assigned_user_id: null })]);
  if (IS_ADMIN) {
    items.push(["Assign to…", showAssign]);
    items.push(["Clear messages", confirmClear, "menu-danger"]);
    items.push(["Delete chat", confirmDelete, "menu-danger"]);
  }
  return items;
}

function openMenu() {
  if (!state.current) return;
  el.menu.replaceChildren(
    ...menuItems().map(([label, action, kind]) => {
      const item = h("li", { role: "menuitem", tabindex: "-1", class: kind ? `menu-item ${kind}` : "menu-item", text: label });
      item.addEventListener("click", () => {
        closeMenu(false);
        action();
      });
      return item;
    }),
  );
  el.menu.hidden = false;
  el.menuButton.setAttribute("aria-expanded", "true");
  el.menu.firstElementChild.focus();
}

export function closeMenu(restoreFocus = false) {
  if (el.menu.hidden) return;
  el.menu.hidden = true;
  el.menuButton.setAttribute("aria-expanded", "false");
  if (restoreFocus) el.menuButton.focus();
}

function onMenuKey(event) {
  const items = [...el.menu.children];
  const at = items.indexOf(document.activeElement);
  let next = null;
  if (event.key === "ArrowDown") next = items[(at + 1) % items.length];
  else if (event.key === "ArrowUp") next = items[(at - 1 + items.length) % items.length];
  else if (event.key === "Home") next = items[0];
  else if (event.key === "End") next = items[items.length - 1];
  else if (event.key === "Escape") {
    event.preventDefault();
    event.stopPropagation();
    closeMenu(true);
    return;
  } else if (event.key === "Tab") {
    closeMenu(false);
    return;
  } else if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    if (at >= 0) items[at].click();
    return;
  } else if (event.key.length === 1) {
    const letter = event.key.toLowerCase();
    next = items.slice(at + 1).concat(items.slice(0, at + 1)).find((item) => item.textContent.toLowerCase().startsWith(letter));
  }
  if (next) {
    event.preventDefault();
    next.focus();
  }
}

export function initMenu() {
  on("chat-opened", () => closeMenu());
  on("chat-closed", () => closeMenu());
  el.menuButton.addEventListener("click", () => (el.menu.hidden ? openMenu() : closeMenu(true)));
  el.menuButton.addEventListener("keydown", (event) => {
    if ((event.key === "ArrowDown" || event.key === "ArrowUp") && el.menu.hidden) {
      event.preventDefault();
      openMenu();
      if (event.key === "ArrowUp") el.menu.lastElementChild.focus();
    }
  });
  el.menu.addEventListener("keydown", onMenuKey);
  document.addEventListener("pointerdown", (event) => {
    if (!el.menu.hidden && !el.menu.contains(event.target) && !el.menuButton.contains(event.target)) closeMenu(false);
  });
}
