"""The inbox page as its accessibility contract (inbox/README.md) names it: every element is
found by role and accessible name, and names are matched exactly (Playwright's default is a
case-insensitive substring: "Archive" would also find "Unarchive")."""

import re

from playwright.sync_api import Locator, Page, expect

# Live ticks go through the worker, the fake provider's status webhooks and the events stream.
LIVE_TIMEOUT_MS = 15_000


def starts_with(text: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*{re.escape(text)}")


class Inbox:
    def __init__(self, page: Page) -> None:
        self.page = page

    # -- signing in and out --------------------------------------------------------------------
    def sign_in(self, api_key: str) -> "Inbox":
        self.page.goto("/inbox/login")
        self.page.get_by_role("textbox", name="API key", exact=True).fill(api_key)
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        self.wait_live()
        return self

    def wait_live(self) -> None:
        """The page is up and its events stream connected (what happens next is seen live)."""
        expect(self.page.get_by_role("status", name="Connection", exact=True)).to_have_text(
            re.compile(r"\bLive\b")
        )

    # -- the sidebar -----------------------------------------------------------------------------
    @property
    def sidebar(self) -> Locator:
        return self.page.get_by_role("navigation", name="Conversations", exact=True)

    @property
    def chats(self) -> Locator:
        return self.sidebar.get_by_role("list", name="Chats", exact=True)

    def row(self, name: str) -> Locator:
        """The list's row whose button's name starts with ``name`` (the contact's name or
        phone)."""
        button = self.page.get_by_role("button", name=starts_with(name))
        return self.chats.get_by_role("listitem").filter(has=button)

    def row_button(self, name: str) -> Locator:
        return self.row(name).get_by_role("button", name=starts_with(name))

    def unread_badge(self, name: str, count: int) -> Locator:
        return self.row(name).get_by_label(f"{count} unread messages", exact=True)

    def button(self, name: str) -> Locator:
        return self.sidebar.get_by_role("button", name=name, exact=True)

    def search(self, text: str) -> None:
        self.sidebar.get_by_role("searchbox", name="Search conversations", exact=True).fill(text)

    def open(self, name: str) -> "Inbox":
        self.row_button(name).click()
        expect(self.heading).to_have_text(starts_with(name))
        return self

    # -- the chat --------------------------------------------------------------------------------
    @property
    def chat(self) -> Locator:
        return self.page.get_by_role("main", name="Chat", exact=True)

    @property
    def heading(self) -> Locator:
        return self.chat.get_by_role("heading", level=2)

    @property
    def log(self) -> Locator:
        return self.chat.get_by_role("log", name="Messages", exact=True)

    def message(self, text: str) -> Locator:
        """The message (an article of the log) showing ``text``."""
        return self.log.get_by_role("article").filter(has_text=text)

    def ticks(self, message: Locator, label: str) -> Locator:
        return message.get_by_role("img", name=label, exact=True)

    def expect_ticks(self, message: Locator, label: str) -> None:
        try:
            expect(self.ticks(message, label)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        except AssertionError as error:
            shown = [
                (m.get_attribute("data-message-id"), m.get_attribute("data-status"))
                for m in message.all()
            ]
            raise AssertionError(f"no {label!r} ticks; (id, data-status) now: {shown}") from error

    @property
    def composer(self) -> Locator:
        return self.chat.get_by_role("textbox", name="Type a message", exact=True)

    def send(self, text: str) -> Locator:
        self.composer.fill(text)
        self.chat.get_by_role("button", name="Send", exact=True).click()
        return self.message(text)

    def open_menu(self) -> Locator:
        """Open the conversation menu; the menu."""
        self.chat.get_by_role("button", name="Conversation menu", exact=True).click()
        menu = self.page.get_by_role("menu")
        expect(menu).to_be_visible()
        return menu

    def menu_item(self, name: str) -> Locator:
        return self.page.get_by_role("menu").get_by_role("menuitem", name=name, exact=True)

    def menu(self, item: str) -> None:
        """Choose ``item`` of the conversation menu."""
        self.open_menu()
        self.menu_item(item).click()

    def dialog(self, name: str) -> Locator:
        return self.page.get_by_role("dialog", name=name, exact=True)

    def new_message(self, phone: str, text: str) -> None:
        self.button("New message").click()
        dialog = self.dialog("New message")
        dialog.get_by_role("textbox", name="Phone number", exact=True).fill(phone)
        dialog.get_by_role("textbox", name="Message", exact=True).fill(text)
        dialog.get_by_role("button", name="Start chat", exact=True).click()
        expect(dialog).to_be_hidden()
