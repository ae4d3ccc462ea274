"""The inbox in a real browser, over the real stack: what an agent or admin does with it, and
what they see change live (ticks, new messages) without reloading the page."""

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import ORDER_SHIPPED, Company, kill_api_workers
from tests.browser.inbox import Inbox
from tests.browser.media import png
from tests.e2e.conftest import Stack
from tests.support import new_phone


def mark_page(page: Page) -> None:
    """Leave a mark in the page's window: still there later means the page never reloaded."""
    page.evaluate("window.__wapipeNoReload = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__wapipeNoReload === true"), "the page reloaded"


# Record every status an article of the page's log shows, in order (a MutationObserver).
RECORD_STATUSES = """() => {
    window.__wapipeStatuses = [];
    const note = (el) => {
        if (el.nodeType === 1 && el.matches("article[data-status]")) {
            window.__wapipeStatuses.push([el.dataset.messageId, el.dataset.status]);
        }
    };
    new MutationObserver((changes) => {
        for (const change of changes) {
            if (change.type === "attributes") note(change.target);
            for (const node of change.addedNodes) {
                note(node);
                if (node.nodeType === 1) node.querySelectorAll("article").forEach(note);
            }
        }
    }).observe(document.body, {subtree: true, childList: true, attributes: true,
                               attributeFilter: ["data-status", "data-message-id"]});
}"""
ORDER = ["sending", "sent", "delivered", "read"]


def test_sign_in_rejects_a_wrong_key_then_signs_in_and_out(page: Page, company: Company) -> None:
    page.goto("/inbox/login")
    page.get_by_role("textbox", name="API key", exact=True).fill("wap_not-a-real-key")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert not any(c["name"] == "wapipe_session" for c in page.context.cookies())

    inbox = Inbox(page).sign_in(company.admin.api_key)
    expect(inbox.button("New message")).to_be_visible()
    [cookie] = [c for c in page.context.cookies() if c["name"] == "wapipe_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert company.admin.api_key not in cookie["value"]  # sealed, never the key itself

    inbox.button("Sign out").click()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    page.goto("/inbox")  # the session is gone: back to the sign-in form
    expect(page.get_by_role("textbox", name="API key", exact=True)).to_be_visible()


def test_a_message_from_new_message_reaches_read_live(inbox: Inbox, company: Company) -> None:
    phone = new_phone()
    mark_page(inbox.page)
    inbox.page.evaluate(RECORD_STATUSES)
    inbox.new_message(phone, "Your bike is ready for pickup")
    sent = inbox.message("Your bike is ready for pickup")
    expect(sent).to_have_count(1)
    expect(sent).to_have_attribute("data-direction", "outbound")
    # Sending, sent, delivered, read: the fake provider's webhooks, shown as they happen.
    inbox.expect_ticks(sent, "Read")
    expect(sent).to_have_attribute("data-status", "read")
    expect(inbox.heading).to_have_text(phone)  # no name: the phone

    conversation = company.conversation(phone)
    message_id = sent.get_attribute("data-message-id")
    assert message_id is not None
    assert company.message(message_id)["status"] == "read"
    assert conversation["last_message"]["id"] == message_id
    # The ticks only ever moved forward, to Read.
    seen = [status for id_, status in inbox.page.evaluate("window.__wapipeStatuses")
            if id_ == message_id]  # fmt: skip
    assert seen, "the message's article was never seen"
    assert seen[-1] == "read", seen
    assert [ORDER.index(status) for status in seen] == sorted(ORDER.index(s) for s in seen), seen
    # The list shows the chat, its last message with the same ticks.
    row = inbox.chats.get_by_role("listitem").filter(has_text="Your bike is ready for pickup")
    expect(row).to_have_count(1)
    inbox.expect_ticks(row, "Read")
    assert_not_reloaded(inbox.page)


def test_new_message_to_a_known_number_opens_its_chat(page: Page, company: Company) -> None:
    phone, name = new_phone(), "Alice Ball"
    company.customer_writes(phone, "Hello again", name)
    company.start_conversation(new_phone(), "Someone Else")
    inbox = Inbox(page).sign_in(company.admin.api_key)
    inbox.new_message(phone, "Welcome back!")
    expect(inbox.heading).to_have_text(name)
    expect(inbox.message("Hello again")).to_be_visible()
    inbox.expect_ticks(inbox.message("Welcome back!"), "Read")
    expect(inbox.row(name)).to_have_count(1)
    expect(inbox.chats.get_by_role("listitem")).to_have_count(2)


def test_an_inbound_message_shows_an_unread_badge_until_opened(
    inbox: Inbox, company: Company
) -> None:
    phone, name = new_phone(), "Grace Hopper"
    mark_page(inbox.page)
    company.customer_writes(phone, "Hi, is the blue city bike still in stock?", name)
    company.customer_writes(phone, "Size M please", name)

    expect(inbox.row(name)).to_have_count(1)
    expect(inbox.unread_badge(name, 2)).to_be_visible()
    expect(inbox.row(name)).to_contain_text("Size M please")  # the preview

    inbox.open(name)
    expect(inbox.message("Hi, is the blue city bike still in stock?")).to_be_visible()
    expect(inbox.message("Size M please")).to_have_attribute("data-direction", "inbound")
    expect(inbox.row(name).get_by_label(re.compile(r"unread message"))).to_have_count(0)
    company.conversation(phone, lambda c: c["unread_count"] == 0)
    assert_not_reloaded(inbox.page)


def test_search_finds_conversations_by_name_and_phone(page: Page, company: Company) -> None:
    people = {"Margaret Hamilton": new_phone(), "Katherine Johnson": new_phone(),
              "Dorothy Vaughan": new_phone()}  # fmt: skip
    for name, phone in people.items():
        company.start_conversation(phone, name)
    inbox = Inbox(page).sign_in(company.admin.api_key)
    rows = inbox.chats.get_by_role("listitem")
    expect(rows).to_have_count(3)

    inbox.search("kath")
    expect(inbox.row("Katherine Johnson")).to_have_count(1)
    expect(rows).to_have_count(1)

    inbox.search(people["Dorothy Vaughan"])  # as typed: +1650...
    expect(inbox.row("Dorothy Vaughan")).to_have_count(1)
    expect(rows).to_have_count(1)

    inbox.search(people["Margaret Hamilton"][-7:])  # part of the number
    expect(inbox.row("Margaret Hamilton")).to_have_count(1)
    expect(rows).to_have_count(1)

    inbox.search("nobody by this name")
    expect(rows).to_have_count(0)

    inbox.search("")
    expect(rows).to_have_count(3)


def test_archive_and_unarchive(page: Page, company: Company) -> None:
    phone, name = new_phone(), "Hedy Lamarr"
    company.start_conversation(phone, name)
    company.start_conversation(new_phone(), "Ada Yonath")  # stays in the main list
    inbox = Inbox(page).sign_in(company.admin.api_key)
    archived = inbox.button("Archived")
    expect(archived).to_have_attribute("aria-pressed", "false")

    inbox.open(name).menu("Archive")
    expect(inbox.row(name)).to_have_count(0)
    expect(inbox.row("Ada Yonath")).to_have_count(1)
    company.conversation(phone, lambda c: c["is_archived"])

    archived.click()
    expect(archived).to_have_attribute("aria-pressed", "true")
    expect(inbox.row(name)).to_have_count(1)
    expect(inbox.row("Ada Yonath")).to_have_count(0)

    inbox.open(name).menu("Unarchive")
    expect(inbox.row(name)).to_have_count(0)  # no longer in the archived list
    company.conversation(phone, lambda c: not c["is_archived"])

    archived.click()
    expect(archived).to_have_attribute("aria-pressed", "false")
    expect(inbox.row(name)).to_have_count(1)
    expect(inbox.row("Ada Yonath")).to_have_count(1)


def test_assign_to_me_to_an_agent_and_unassign(page: Page, company: Company) -> None:
    phone, name = new_phone(), "Barbara Liskov"
    company.start_conversation(phone, name)
    inbox = Inbox(page).sign_in(company.admin.api_key)
    inbox.open(name)
    expect(inbox.chat.get_by_text("Unassigned", exact=True)).to_be_visible()

    inbox.menu("Assign to me")
    expect(inbox.chat.get_by_text(f"Assigned to {company.admin.name}")).to_be_visible()
    company.conversation(phone, lambda c: c["assigned_user_id"] == str(company.admin.user_id))

    inbox.menu("Assign to…")
    dialog = inbox.dialog("Assign conversation")
    dialog.get_by_role("combobox", name="Agent", exact=True).select_option(label=company.agent.name)
    dialog.get_by_role("button", name="Assign", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(inbox.chat.get_by_text(f"Assigned to {company.agent.name}")).to_be_visible()
    company.conversation(phone, lambda c: c["assigned_user_id"] == str(company.agent.user_id))

    inbox.menu("Unassign")
    expect(inbox.chat.get_by_text("Unassigned", exact=True)).to_be_visible()
    company.conversation(phone, lambda c: c["assigned_user_id"] is None)


def _chat_with_history(company: Company, name: str) -> tuple[str, dict[str, Any]]:
    """A conversation with a customer's message and a reply that has been read."""
    phone = new_phone()
    company.customer_writes(phone, "Do you repair e-bikes?", name)
    company.conversation(phone)
    company.wait_status(company.send_text(phone, "Yes, bring it in any weekday"), "read")
    return phone, company.conversation(phone)


def test_clear_messages(page: Page, company: Company) -> None:
    name = "Frances Allen"
    _, conversation = _chat_with_history(company, name)
    inbox = Inbox(page).sign_in(company.admin.api_key)
    inbox.open(name)
    messages = inbox.log.get_by_role("article")
    expect(messages).to_have_count(2)

    inbox.menu("Clear messages")
    dialog = inbox.dialog("Clear messages?")
    dialog.get_by_role("button", name="Cancel", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(messages).to_have_count(2)

    inbox.menu("Clear messages")
    inbox.dialog("Clear messages?").get_by_role("button", name="Clear", exact=True).click()
    expect(messages).to_have_count(0)
    expect(inbox.row(name)).to_have_count(1)  # the chat stays, empty
    assert company.messages(conversation["id"]) == []


def test_delete_chat(page: Page, company: Company) -> None:
    name = "Radia Perlman"
    phone, _ = _chat_with_history(company, name)
    inbox = Inbox(page).sign_in(company.admin.api_key)
    inbox.open(name)

    inbox.menu("Delete chat")
    dialog = inbox.dialog("Delete chat?")
    dialog.get_by_role("button", name="Cancel", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(inbox.row(name)).to_have_count(1)

    inbox.menu("Delete chat")
    inbox.dialog("Delete chat?").get_by_role("button", name="Delete", exact=True).click()
    expect(inbox.row(name)).to_have_count(0)
    assert company.find_conversation(phone) is None


def test_retry_a_failed_message(inbox: Inbox, company: Company) -> None:
    phone, name = new_phone(), "Shafi Goldwasser"
    company.customer_writes(phone, "Can I change my delivery address?", name)
    # The provider refuses the next send to this number: undeliverable, a permanent error.
    company.fake.post("/_fake/rules", json={"to": phone.lstrip("+"), "code": 131026, "times": 1})
    inbox.open(name)

    inbox.composer.fill("Sure, send me the new one")
    inbox.composer.press("Enter")  # Enter sends
    sent = inbox.message("Sure, send me the new one")
    inbox.expect_ticks(sent, "Failed")
    expect(sent).to_have_attribute("data-status", "failed")
    retry = sent.get_by_role("button", name="Retry", exact=True)

    inbox.expect_ticks(inbox.row(name), "Failed")  # the list shows it too

    retry.click()  # the rule is used up: this time it goes through
    inbox.expect_ticks(sent, "Read")
    expect(retry).to_have_count(0)
    inbox.expect_ticks(inbox.row(name), "Read")
    message_id = sent.get_attribute("data-message-id")
    assert message_id is not None
    assert company.message(message_id)["status"] == "read"
    # Two requests reached the provider: the refused one, then the retry.
    arrivals = company.fake.get(f"/_fake/arrivals/{company.phone_number_id}").json()["arrivals"]
    assert [a["code"] for a in arrivals if a["to"] == phone.lstrip("+")] == [131026, None]


def test_images_both_ways(inbox: Inbox, company: Company, tmp_path: Path) -> None:
    phone, name = new_phone(), "Lynn Conway"
    company.customer_sends_image(phone, png(200, 150), "My cracked frame", name)
    inbox.open(name)
    # The customer's photo, fetched through the API, inline and named by its caption.
    theirs = inbox.log.get_by_role("img", name="My cracked frame", exact=True)
    expect(theirs).to_have_js_property("naturalWidth", 200)

    photo = tmp_path / "frame.png"
    photo.write_bytes(png(320, 200))
    inbox.chat.get_by_label("Attach a file", exact=True).set_input_files(photo)
    image = inbox.page.get_by_role("img", name="Image", exact=True)
    sent = inbox.log.get_by_role("article").filter(has=image)
    expect(sent.get_by_role("img", name="Image", exact=True)).to_be_visible()
    expect(sent).to_have_attribute("data-direction", "outbound")
    inbox.expect_ticks(sent, "Read")
    message_id = sent.get_attribute("data-message-id")
    assert message_id is not None
    assert company.message(message_id)["type"] == "image"

    # Shown again later, from the server rather than the browser's own copy.
    inbox.page.goto("/inbox")
    inbox.wait_live()
    inbox.open(name)
    shown = inbox.log.locator(f'article[data-message-id="{message_id}"]').get_by_role(
        "img", name="Image", exact=True
    )
    expect(shown).to_have_js_property("naturalWidth", 320)


def test_send_a_document(inbox: Inbox, company: Company, tmp_path: Path) -> None:
    phone, name = new_phone(), "Edith Clarke"
    company.customer_writes(phone, "Can I have the quote as a PDF?", name)
    inbox.open(name)
    pdf = tmp_path / "quote-1042.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")

    inbox.chat.get_by_label("Attach a file", exact=True).set_input_files(pdf)
    link = inbox.page.get_by_role("link", name="quote-1042.pdf")
    sent = inbox.log.get_by_role("article").filter(has=link)
    expect(sent).to_have_count(1)
    inbox.expect_ticks(sent, "Read")
    message_id = sent.get_attribute("data-message-id")
    assert message_id is not None
    message = company.message(message_id)
    assert message["type"] == "document"
    assert message["content"]["filename"] == "quote-1042.pdf"


def test_a_template_to_a_closed_window(page: Page, company: Company) -> None:
    company.add_templates([ORDER_SHIPPED])
    phone, name = new_phone(), "Mary Jackson"
    company.start_conversation(phone, name)  # she never wrote: the window is closed
    inbox = Inbox(page).sign_in(company.admin.api_key)
    inbox.open(name)

    template = inbox.chat.get_by_role("combobox", name="Template", exact=True)
    expect(template).to_be_visible()
    # Its label is the page's to choose ("order shipped (en)"); it names the template.
    option = template.get_by_role("option", name=re.compile(r"order.shipped", re.IGNORECASE))
    template.select_option(label=option.inner_text().strip())
    inbox.chat.get_by_role("textbox", name="Parameter 1", exact=True).fill("Mary")
    inbox.chat.get_by_role("textbox", name="Parameter 2", exact=True).fill("A-1042")
    inbox.chat.get_by_role("button", name="Send template", exact=True).click()

    sent = inbox.message("Hello Mary, your order A-1042 has shipped.")
    expect(sent).to_have_count(1)
    inbox.expect_ticks(sent, "Read")
    message_id = sent.get_attribute("data-message-id")
    assert message_id is not None
    content = company.message(message_id)["content"]
    assert content["name"] == "order_shipped"
    parameters = content["components"][0]["parameters"]
    assert [p["text"] for p in parameters] == ["Mary", "A-1042"]


def test_an_agent_cannot_clear_or_delete(page: Page, company: Company) -> None:
    name = "Katherine Booth"
    company.start_conversation(new_phone(), name)
    inbox = Inbox(page).sign_in(company.agent.api_key)
    inbox.open(name)

    menu = inbox.open_menu()
    expect(inbox.menu_item("Archive")).to_be_visible()
    expect(inbox.menu_item("Assign to me")).to_be_visible()
    for admins_only in ("Clear messages", "Delete chat", "Assign to…"):
        expect(inbox.menu_item(admins_only)).to_have_count(0)
    page.keyboard.press("Escape")  # closes the menu
    expect(menu).to_have_count(0)

    inbox.menu("Assign to me")  # what an agent may do
    expect(inbox.chat.get_by_text(f"Assigned to {company.agent.name}")).to_be_visible()
    inbox.open_menu()
    expect(inbox.menu_item("Unassign")).to_be_visible()
    for admins_only in ("Clear messages", "Delete chat"):
        expect(inbox.menu_item(admins_only)).to_have_count(0)
    page.keyboard.press("Escape")
    expect(inbox.row(name)).to_have_count(1)


def test_on_a_phone_the_list_and_the_chat_are_one_column(page: Page, company: Company) -> None:
    name = "Joan Clarke"
    company.customer_writes(new_phone(), "Are you open on Sunday?", name)
    page.set_viewport_size({"width": 390, "height": 844})
    inbox = Inbox(page).sign_in(company.admin.api_key)
    expect(inbox.chats).to_be_visible()

    inbox.open(name)
    expect(inbox.message("Are you open on Sunday?")).to_be_visible()
    expect(inbox.chats).to_be_hidden()
    inbox.chat.get_by_role("button", name="Back to chats", exact=True).click()
    expect(inbox.chats).to_be_visible()
    expect(inbox.row(name)).to_be_visible()


def test_favourites_the_unread_filter_and_contact_info(page: Page, company: Company) -> None:
    waiting, regular = new_phone(), new_phone()
    company.customer_writes(waiting, "Is my bike ready?", "Mae Jemison")
    company.customer_writes(regular, "See you Saturday", "Evelyn Boyd")
    company.api.post(f"/v1/conversations/{company.conversation(regular)['id']}/read")
    inbox = Inbox(page).sign_in(company.admin.api_key)
    filters = inbox.sidebar.get_by_role("group", name="Filters", exact=True)
    rows = inbox.chats.get_by_role("listitem")
    expect(rows).to_have_count(2)

    inbox.open("Evelyn Boyd").menu("Add to favourites")
    expect(
        inbox.row("Evelyn Boyd").get_by_role("img", name="Favourite", exact=True)
    ).to_be_visible()
    company.conversation(regular, lambda c: c["is_favorite"])

    favorites = filters.get_by_role("button", name="Favorites", exact=True)
    favorites.click()
    expect(favorites).to_have_attribute("aria-pressed", "true")
    expect(rows).to_have_count(1)
    expect(inbox.row("Evelyn Boyd")).to_have_count(1)

    unread = filters.get_by_role("button", name="Unread", exact=True)
    unread.click()
    expect(unread).to_have_attribute("aria-pressed", "true")
    expect(favorites).to_have_attribute("aria-pressed", "false")
    expect(rows).to_have_count(1)
    expect(inbox.row("Mae Jemison")).to_have_count(1)

    filters.get_by_role("button", name="All", exact=True).click()
    expect(rows).to_have_count(2)
    inbox.menu("Remove from favourites")
    expect(inbox.row("Evelyn Boyd").get_by_role("img", name="Favourite")).to_have_count(0)

    inbox.menu("Contact info")
    info = inbox.dialog("Contact info")
    expect(info).to_contain_text("Evelyn Boyd")
    expect(info).to_contain_text(regular)
    page.keyboard.press("Escape")  # closes a dialog
    expect(info).to_have_count(0)


def test_a_message_shows_sending_until_the_provider_answers(inbox: Inbox, company: Company) -> None:
    phone, name = new_phone(), "Annie Easley"
    company.customer_writes(phone, "Did you get my order?", name)
    inbox.open(name)
    # The provider takes its time: the message stays `sending` meanwhile.
    company.fake.patch("/_fake/config", json={"latency_ms": 2000}).raise_for_status()
    try:
        sent = inbox.send("We did, it ships tomorrow")
        inbox.expect_ticks(sent, "Sending")
        expect(sent).to_have_count(1)  # the server's answer replaced it: never two
        inbox.expect_ticks(sent, "Read")
    finally:
        company.fake.patch("/_fake/config", json={"latency_ms": 0}).raise_for_status()
    message_id = sent.get_attribute("data-message-id")
    assert message_id is not None
    assert company.message(message_id)["status"] == "read"


def test_a_reply_quotes_the_message_it_answers(inbox: Inbox, company: Company) -> None:
    phone, name = new_phone(), "Mary Keller"
    company.customer_writes(phone, "Do you sell child seats?", name)
    company.customer_writes(phone, "And helmets?", name)
    inbox.open(name)

    question = inbox.message("Do you sell child seats?")
    question_id = question.get_attribute("data-message-id")
    question.get_by_role("button", name="Reply", exact=True).click()
    expect(inbox.chat.get_by_role("button", name="Cancel reply", exact=True)).to_be_visible()
    inbox.composer.fill("Yes, from 49 USD.")
    inbox.composer.press("Shift+Enter")  # a new line, not a send
    inbox.composer.press_sequentially("Helmets too.")
    inbox.composer.press("Enter")
    answer = inbox.message("Yes, from 49 USD.")
    expect(answer).to_contain_text("Do you sell child seats?")  # the quote
    expect(answer).to_contain_text("Helmets too.")
    inbox.expect_ticks(answer, "Read")
    expect(inbox.chat.get_by_role("button", name="Cancel reply", exact=True)).to_have_count(0)

    message_id = answer.get_attribute("data-message-id")
    assert message_id is not None
    message = company.message(message_id)
    assert message["reply_to"] == question_id
    assert message["content"]["body"] == "Yes, from 49 USD.\nHelmets too."


# More than the API's largest page (100): the page must ask for more, whatever its page size.
MANY = 105


def scroll_until_all(items: Locator, scroll_to: Locator, count: int) -> None:
    """Bring ``scroll_to`` into view until ``items`` counts ``count``; every scroll must
    load more (expect fails if nothing arrives)."""
    while (shown := items.count()) < count:
        scroll_to.scroll_into_view_if_needed()
        expect(items).not_to_have_count(shown)
    expect(items).to_have_count(count)


def test_more_conversations_load_on_scroll(page: Page, company: Company) -> None:
    names = [f"Customer {number:03d}" for number in range(1, MANY + 1)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: company.start_conversation(new_phone(), name), names))
    inbox = Inbox(page).sign_in(company.admin.api_key)
    rows = inbox.chats.get_by_role("listitem")
    expect(rows.first).to_be_visible()
    assert rows.count() < MANY

    scroll_until_all(rows, rows.last, MANY)
    shown = [text.split("\n")[0].strip() for text in rows.all_inner_texts()]
    assert sorted(shown) == names  # each once


def test_older_messages_load_on_scrolling_up(page: Page, company: Company) -> None:
    phone, name = new_phone(), "Chatty Cathy"
    company.customer_writes(phone, "Message 001", name)  # the oldest

    def write(number: int) -> None:
        body = {"phone_number_id": company.phone_number_id, "from": phone, "name": name,
                "type": "text", "text": {"body": f"Message {number:03d}"}}  # fmt: skip
        company.fake.post("/_fake/inbound", json=body).raise_for_status()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(2, MANY + 1)))
    company.conversation(phone, lambda c: c["unread_count"] == MANY)
    inbox = Inbox(page).sign_in(company.admin.api_key)
    inbox.open(name)
    messages = inbox.log.get_by_role("article")
    expect(messages.first).to_be_visible()
    assert messages.count() < MANY

    scroll_until_all(messages, messages.first, MANY)
    expect(inbox.message("Message 001")).to_have_count(1)
    expect(messages.first).to_contain_text("Message 001")


def test_a_colleagues_changes_show_live(
    page: Page, browser: Browser, stack: Stack, company: Company
) -> None:
    phone, name = new_phone(), "Grace Murray"
    company.customer_writes(phone, "Is anyone there?", name)
    agent = Inbox(page).sign_in(company.agent.api_key)
    agent.open(name)
    expect(agent.chat.get_by_text("Unassigned", exact=True)).to_be_visible()
    mark_page(page)

    other = browser.new_context(base_url=stack.api_url, viewport={"width": 1280, "height": 800})
    try:
        admin = Inbox(other.new_page()).sign_in(company.admin.api_key)
        admin.open(name).menu("Assign to…")
        dialog = admin.dialog("Assign conversation")
        dialog.get_by_role("combobox", name="Agent", exact=True).select_option(
            label=company.agent.name
        )
        dialog.get_by_role("button", name="Assign", exact=True).click()
        # The agent sees it at once: the events stream's conversation.updated.
        expect(agent.chat.get_by_text(f"Assigned to {company.agent.name}")).to_be_visible()

        admin.send("Alan will help you")
        expect(agent.message("Alan will help you")).to_be_visible()

        admin.menu("Delete chat")
        admin.dialog("Delete chat?").get_by_role("button", name="Delete", exact=True).click()
        expect(agent.row(name)).to_have_count(0)
    finally:
        other.close()
    assert_not_reloaded(page)


def test_the_server_refuses_an_agent_what_the_page_hides(page: Page, company: Company) -> None:
    conversation = company.start_conversation(new_phone(), "Dorothy Hodgkin")
    Inbox(page).sign_in(company.agent.api_key)
    # The page's own session (cookie and CSRF token), without the page's restraint.
    boot = json.loads(page.locator("#inbox-boot").text_content() or "{}")
    assert boot["me"]["role"] == "agent"
    headers = {"X-CSRF-Token": boot["csrf_token"]}
    cleared = page.request.post(f"/v1/conversations/{conversation['id']}/clear", headers=headers)
    assert cleared.status == 403, cleared.text()
    deleted = page.request.delete(f"/v1/conversations/{conversation['id']}", headers=headers)
    assert deleted.status == 403, deleted.text()
    # And the CSRF token is required: without it, even what an agent may do is refused.
    body = {"assigned_user_id": str(company.agent.user_id)}
    forged = page.request.patch(f"/v1/conversations/{conversation['id']}", data=body)
    assert forged.status == 403
    assert forged.json()["error"]["code"] == "CSRF_FAILED"
    assert company.find_conversation(conversation["contact"]["phone"]) is not None


def test_every_control_is_reachable_with_tab(inbox: Inbox, company: Company) -> None:
    name = "Ida Rhodes"
    company.customer_writes(new_phone(), "Do you deliver?", name)
    inbox.open(name)
    sidebar, chat = inbox.sidebar, inbox.chat
    controls = {
        "New message": inbox.button("New message"),
        "Sign out": inbox.button("Sign out"),
        "Search conversations": sidebar.get_by_role("searchbox", name="Search conversations"),
        "All": sidebar.get_by_role("button", name="All", exact=True),
        "Unread": sidebar.get_by_role("button", name="Unread", exact=True),
        "Favorites": sidebar.get_by_role("button", name="Favorites", exact=True),
        "Groups": sidebar.get_by_role("button", name="Groups", exact=True),
        "Archived": inbox.button("Archived"),
        "the chat's row": inbox.row_button(name),
        "Conversation menu": chat.get_by_role("button", name="Conversation menu", exact=True),
        "Reply": inbox.message("Do you deliver?").get_by_role("button", name="Reply"),
        "Attach": chat.get_by_role("button", name="Attach", exact=True),
        "Type a message": inbox.composer,
        "Send": chat.get_by_role("button", name="Send", exact=True),
    }
    page = inbox.page
    focused = "element => element === document.activeElement"
    missing = set(controls)
    for _ in range(60):  # more than enough presses to go round the page
        page.keyboard.press("Tab")
        missing -= {label for label in missing if controls[label].evaluate(focused)}
        if not missing:
            break
    assert not missing, f"never focused with Tab: {missing}"

    # The menu works from the keyboard too, and Escape closes it.
    controls["Conversation menu"].focus()
    page.keyboard.press("Enter")
    menu = page.get_by_role("menu")
    expect(menu).to_be_visible()
    page.keyboard.press("Escape")
    expect(menu).to_have_count(0)


def test_the_connection_status_follows_the_events_stream(
    inbox: Inbox, company: Company, stack: Stack
) -> None:
    status = inbox.page.get_by_role("status", name="Connection", exact=True)
    mark_page(inbox.page)
    kill_api_workers(stack)  # the stream breaks; gunicorn starts new workers
    expect(status).to_have_text(re.compile(r"\bReconnecting\b"))
    expect(status).to_have_text(re.compile(r"\bLive\b"), timeout=20_000)
    # Connected again: what happens now shows as before.
    company.customer_writes(new_phone(), "Still there?", "Rosalind Franklin")
    expect(inbox.unread_badge("Rosalind Franklin", 1)).to_be_visible()
    assert_not_reloaded(inbox.page)
