"""The README's picture of the inbox: a bike shop's inbox with several conversations (unread
badges, read ticks, a template, a photo, a favourite, an assignee), one chat open, 1280x800.

Every run checks the scene renders and keeps it as artifacts/browser/readme_inbox.png; to
refresh docs/inbox.png, run it with WAPIPE_README_SCREENSHOT=1:

    WAPIPE_README_SCREENSHOT=1 .venv/bin/pytest tests/browser/test_readme_screenshot.py
"""

import os
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from pipeline.bootstrap import Container
from pipeline.config import Settings
from tests.browser.conftest import ORDER_SHIPPED, REPO, Company, artifacts_dir, make_company
from tests.browser.inbox import Inbox
from tests.browser.media import png
from tests.e2e.conftest import Stack
from tests.support import new_phone

DOCS_PICTURE = REPO / "docs" / "inbox.png"


@pytest.fixture
def shop(
    container: Container, settings: Settings, stack: Stack, fake_admin: httpx.Client
) -> Iterator[Company]:
    yield from make_company(
        container, settings, stack, fake_admin, "Northwind Bikes", "Sofia Reyes", "Daniel Kim"
    )


def _reply(shop: Company, phone: str, text: str) -> None:
    shop.wait_status(shop.send_text(phone, text), "read")


def _arrange(shop: Company) -> dict[str, int]:
    """The conversations, oldest activity first (each settled before the next, so the list's
    order is the same every time); how many minutes ago each one's last message should be."""
    tom = new_phone()
    shop.customer_writes(tom, "Thanks for the quick fix on my brakes! 🙏", "Tom Becker")
    conversation = shop.conversation(tom)
    _reply(shop, tom, "You're welcome, ride safe!")
    shop.api.post(f"/v1/conversations/{conversation['id']}/read").raise_for_status()

    aisha = new_phone()
    shop.start_conversation(aisha, "Aisha Khan")
    parameters = [{"type": "text", "text": "Aisha"}, {"type": "text", "text": "NB-2291"}]
    template = {"name": "order_shipped", "language": {"code": "en"},
                "components": [{"type": "body", "parameters": parameters}]}  # fmt: skip
    sent = shop.api.post(
        "/v1/messages", json={"to": aisha, "type": "template", "template": template}
    )
    assert sent.status_code == 202, sent.text
    shop.wait_status(sent.json()["id"], "read")

    lucas = new_phone()
    shop.customer_sends_image(lucas, png(320, 240, (120, 120, 130), (40, 40, 48)),
                              "The chain keeps slipping", "Lucas Silva")  # fmt: skip
    conversation = shop.conversation(lucas)
    _reply(shop, lucas, "Looks like a worn cassette. We can swap it on Thursday.")
    favorite = {"is_favorite": True}
    shop.api.patch(f"/v1/conversations/{conversation['id']}", json=favorite).raise_for_status()
    shop.api.post(f"/v1/conversations/{conversation['id']}/read").raise_for_status()

    emma = new_phone()
    shop.customer_writes(emma, "Do you rent tandem bikes for the weekend?", "Emma Johansson")
    conversation = shop.conversation(emma)
    shop.api.patch(
        f"/v1/conversations/{conversation['id']}",
        json={"assigned_user_id": str(shop.agent.user_id)},
    ).raise_for_status()

    quote = new_phone()
    shop.start_conversation(quote)
    _reply(shop, quote, "Your repair quote is ready: 45 USD, parts included.")

    kenji = new_phone()
    for words in ("Hello!", "I think I left my helmet in the shop yesterday",
                  "Black one, with a red light on the back"):  # fmt: skip
        shop.customer_writes(kenji, words, "Kenji Watanabe")
    shop.conversation(kenji, lambda c: c["unread_count"] == 3)

    maria = new_phone()
    shop.customer_writes(maria, "Hi! Is the blue city bike from your window still in stock?",
                         "Maria Garcia")  # fmt: skip
    shop.conversation(maria)
    _reply(shop, maria, "Yes! We have two left, in sizes M and L.")
    shop.customer_writes(maria, "Great, M please. Can I pick it up tomorrow at 10?", "Maria Garcia")
    _reply(shop, maria, "Of course! It will be ready at the front desk, with a free bell 🚲")
    # Sofia answered from her phone: nothing unread, no divider in the open chat.
    shop.api.post(f"/v1/conversations/{shop.conversation(maria)['id']}/read").raise_for_status()
    return {tom: 26 * 60, aisha: 19 * 60, lucas: 5 * 60, emma: 95, quote: 52, kenji: 14, maria: 1}


# Everything above happened within seconds; an inbox's day does not. The one thing staged
# in the database: each conversation's messages moved back in time (the newest by the
# conversation's age, each older one two minutes more), and the conversation with them.
_AGE_MESSAGES_SQL = text("""
UPDATE messages m SET
    created_at = m.created_at - shift, queued_at = m.queued_at - shift,
    enqueued_at = m.enqueued_at - shift, updated_at = m.updated_at - shift,
    sent_at = m.sent_at - shift, delivered_at = m.delivered_at - shift,
    read_at = m.read_at - shift
FROM (
    SELECT id, make_interval(
        mins => :minutes + 2 * (row_number() OVER (ORDER BY seq DESC) - 1)::int) AS shift
    FROM messages WHERE conversation_id = :id
) aged
WHERE m.id = aged.id
""")
_AGE_CONVERSATION_SQL = text("""
UPDATE conversations c SET
    last_message_at = (SELECT created_at FROM messages WHERE id = c.last_message_id),
    last_inbound_at = (SELECT max(created_at) FROM messages
                       WHERE conversation_id = c.id AND direction = 'inbound'),
    activity_floor_at = c.activity_floor_at - make_interval(mins => :minutes + 10),
    created_at = c.created_at - make_interval(mins => :minutes + 10)
WHERE c.id = :id
""")


def _age(shop: Company, container: Container, minutes_ago: dict[str, int]) -> None:
    for phone, minutes in minutes_ago.items():
        conversation_id = shop.conversation(phone)["id"]
        with container.db.transaction() as session:
            session.execute(_AGE_MESSAGES_SQL, {"id": conversation_id, "minutes": minutes})
            session.execute(_AGE_CONVERSATION_SQL, {"id": conversation_id, "minutes": minutes})


def test_readme_screenshot(page: Page, shop: Company, container: Container) -> None:
    shop.add_templates([ORDER_SHIPPED])
    _age(shop, container, _arrange(shop))
    inbox = Inbox(page).sign_in(shop.admin.api_key)
    expect(inbox.chats.get_by_role("listitem")).to_have_count(7)
    expect(inbox.unread_badge("Kenji Watanabe", 3)).to_be_visible()
    inbox.open("Maria Garcia")
    last = inbox.message("ready at the front desk")
    inbox.expect_ticks(last, "Read")
    expect(inbox.log.get_by_role("article")).to_have_count(4)
    page.mouse.move(0, 0)
    page.evaluate("document.activeElement && document.activeElement.blur()")

    directory = artifacts_dir()
    directory.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=directory / "readme_inbox.png")
    if os.environ.get("WAPIPE_README_SCREENSHOT") == "1":
        DOCS_PICTURE.parent.mkdir(exist_ok=True)
        page.screenshot(path=DOCS_PICTURE)
