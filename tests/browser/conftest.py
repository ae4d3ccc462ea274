"""Browser tests of the inbox: Playwright drives Debian's Chromium against the real stack
(gunicorn API, dramatiq worker and the fake provider as processes, their own queues).

Each test gets its own company (so its list shows only its own conversations), a fresh
browser context, and leaves a screenshot in artifacts/browser/<test name>.png (under
$WAPIPE_ARTIFACTS/browser/ when that is set), passed or failed.
"""

import base64
import os
import re
import shutil
import signal
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from pipeline.bootstrap import Container
from pipeline.config import Settings
from pipeline.crypto import TokenCipher, new_key
from pipeline.services import tenants
from tests.browser.inbox import Inbox
from tests.cli_support import Wapipe
from tests.e2e.processes import Stack, pipeline_stack
from tests.support import wait_for

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("WAPIPE_CHROMIUM", "/usr/bin/chromium")
# A template of the fake provider's catalogue (two body parameters).
ORDER_SHIPPED = {
    "name": "order_shipped",
    "language": "en",
    "status": "APPROVED",
    "category": "UTILITY",
    "components": [{"type": "BODY", "text": "Hello {{1}}, your order {{2}} has shipped."}],
}

# Expect's auto-waiting: long enough for a loaded 2-core CI machine, short enough to fail fast.
EXPECT_TIMEOUT_MS = 10_000


def kill_api_workers(stack: Stack) -> None:
    """SIGKILL every gunicorn worker of the stack's API; its master starts new ones."""
    master = stack.processes["api"].popen
    assert master is not None
    assert master.poll() is None
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    assert children, "the API has no workers"
    for child in children:
        os.kill(int(child), signal.SIGKILL)


def artifacts_dir() -> Path:
    root = os.environ.get("WAPIPE_ARTIFACTS")
    return (Path(root) if root else REPO / "artifacts") / "browser"


# Stopped when the browser tests are done (like the e2e stack): its worker applies every
# webhook stored in the shared test database's inbox, so it must not outlive this package.
@pytest.fixture(scope="package")
def stack(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs: Path = tmp_path_factory.mktemp("browser-logs")
    # WAPIPE_SECRET_KEY seals the session cookie. Access tokens stored by the tests under the
    # loopback development key still decrypt (with the fake, that key is always tried too).
    with pipeline_stack(settings, logs, WAPIPE_SECRET_KEY=new_key()) as running_stack:
        yield running_stack


def log_tails(stack: Stack, lines: int = 15) -> str:
    """The end of each process's log: what a failed test's report shows."""
    if stack.logs is None:
        return ""
    return "\n".join(
        f"--- {path.name}:\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        for path in sorted(stack.logs.glob("*.log"))
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test, so its fixtures know whether it failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def fake_admin(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.fake_url, timeout=10) as http:
        yield http


@dataclass(frozen=True)
class User:
    user_id: uuid.UUID
    name: str
    role: str
    api_key: str


@dataclass
class Company:
    """A company of its own for one test: its channel known to the fake provider, an admin
    and an agent, and an API client (as the admin) to arrange and check things."""

    company_id: uuid.UUID
    name: str
    phone_number_id: str
    admin: User
    agent: User
    api: httpx.Client = field(repr=False)
    fake: httpx.Client = field(repr=False)
    wapipe: Wapipe = field(repr=False)

    def _inbound(self, phone: str, name: str | None, **message: Any) -> None:
        """The fake provider posts a customer's message to wapipe's webhook (signed)."""
        body: dict[str, Any] = {"phone_number_id": self.phone_number_id, "from": phone}
        if name:
            body["name"] = name
        posted = self.fake.post("/_fake/inbound", json=body | message)
        posted.raise_for_status()
        assert posted.json()["webhook_status"] == 200, posted.text

    def customer_writes(self, phone: str, text: str, name: str | None = None) -> None:
        """A customer's text message, as the provider's signed webhook delivers it; returns
        once the worker has applied it (it is the conversation's last message)."""
        self._inbound(phone, name, type="text", text={"body": text})

        def applied(conversation: dict[str, Any]) -> bool:
            last = conversation["last_message"]
            return bool(last and last["direction"] == "inbound" and text.startswith(
                (last["preview"] or "").rstrip("…")[:40]))  # fmt: skip

        self.conversation(phone, applied)

    def customer_sends_image(
        self, phone: str, data: bytes, caption: str, name: str | None = None
    ) -> None:
        media = {"mime_type": "image/png", "data_base64": base64.b64encode(data).decode()}
        self._inbound(phone, name, type="image", image={"caption": caption}, media=media)

        def applied(conversation: dict[str, Any]) -> bool:
            return any(
                m["type"] == "image" and m["direction"] == "inbound"
                for m in self.messages(conversation["id"])
            )

        self.conversation(phone, applied)

    def find_conversation(self, phone: str) -> dict[str, Any] | None:
        """The company's live conversation with ``phone`` (archived or not), if any."""
        for archived in ("false", "true"):
            params = {"q": phone.lstrip("+"), "archived": archived}
            page = self.api.get("/v1/conversations", params=params)
            page.raise_for_status()
            for conversation in page.json()["items"]:
                if conversation["contact"]["phone"] == phone:
                    return dict(conversation)
        return None

    def conversation(
        self, phone: str, check: Callable[[dict[str, Any]], bool] = bool, timeout: float = 15
    ) -> dict[str, Any]:
        """The conversation with ``phone`` once it exists and ``check`` holds for it (the
        worker applies webhooks and statuses a moment after they arrive)."""

        def found() -> dict[str, Any] | None:
            conversation = self.find_conversation(phone)
            return conversation if conversation is not None and check(conversation) else None

        return wait_for(found, timeout=timeout, interval=0.1, what=f"conversation with {phone}")

    def start_conversation(self, phone: str, name: str | None = None) -> dict[str, Any]:
        body = {"to": phone, **({"name": name} if name else {})}
        created = self.api.post("/v1/conversations", json=body)
        assert created.status_code in (200, 201), created.text
        result: dict[str, Any] = created.json()
        return result

    def send_text(self, phone: str, text: str) -> str:
        sent = self.api.post("/v1/messages", json={"to": phone, "text": text})
        assert sent.status_code == 202, sent.text
        message_id: str = sent.json()["id"]
        return message_id

    def message(self, message_id: str) -> dict[str, Any]:
        got = self.api.get(f"/v1/messages/{message_id}")
        got.raise_for_status()
        result: dict[str, Any] = got.json()
        return result

    def wait_status(self, message_id: str, status: str, timeout: float = 15) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            message = self.message(message_id)
            return message if message["status"] == status else None

        return wait_for(reached, timeout=timeout, interval=0.1, what=f"{message_id} {status}")

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        got = self.api.get(f"/v1/conversations/{conversation_id}/messages")
        got.raise_for_status()
        items: list[dict[str, Any]] = got.json()["items"]
        return items

    def add_templates(self, templates: list[dict[str, Any]]) -> None:
        """A catalogue at the fake provider, synced into wapipe as an operator would."""
        self.fake.put(
            f"/_fake/templates/{self.phone_number_id}", json={"templates": templates}
        ).raise_for_status()
        synced = self.wapipe.json("templates", "sync", "--company", str(self.company_id))
        assert synced["templates"] == len(templates), synced


def make_company(
    container: Container,
    settings: Settings,
    stack: Stack,
    fake_admin: httpx.Client,
    name: str = "Northwind Bikes",
    admin_name: str = "Ada Lovelace",
    agent_name: str = "Alan Turing",
) -> Iterator[Company]:
    pnid, token = str(uuid.uuid4().int % 10**15), f"tok-{uuid.uuid4().hex}"
    # The cipher of the stack's settings (the loopback fake's development key).
    cipher = TokenCipher.from_settings(settings)
    new = tenants.create_company(
        container.db, name, pnid, token, "15550009999", waba_id=pnid, cipher=cipher
    )
    fake_admin.put(
        f"/_fake/channels/{pnid}",
        json={"access_token": token, "display_phone_number": "15550009999", "waba_id": pnid},
    ).raise_for_status()
    admin_id, admin_key = tenants.create_user(container.db, new.company_id, admin_name, "admin")
    agent_id, agent_key = tenants.create_user(container.db, new.company_id, agent_name, "agent")
    # The CLI as an operator runs it against the stack's provider.
    wapipe = Wapipe(
        settings.model_copy(update={"whatsapp_api_base_url": f"{stack.fake_url}/v21.0"})
    )
    with httpx.Client(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=10
    ) as api:
        yield Company(
            new.company_id,
            name,
            pnid,
            User(admin_id, admin_name, "admin", admin_key),
            User(agent_id, agent_name, "agent", agent_key),
            api,
            fake_admin,
            wapipe,
        )


@pytest.fixture
def company(
    container: Container, settings: Settings, stack: Stack, fake_admin: httpx.Client
) -> Iterator[Company]:
    yield from make_company(container, settings, stack, fake_admin)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: `make browser` installs Debian's")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    yield browser
    browser.close()


def screenshot_name(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")


@pytest.fixture
def page(browser: Browser, stack: Stack, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh context (no cookies) at 1280x800; its screenshot is kept when the test ends,
    and an uncaught exception in the page's script fails the test."""
    context = browser.new_context(base_url=stack.api_url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(EXPECT_TIMEOUT_MS)
    problems: list[str] = []
    uncaught: list[str] = []
    page.on("pageerror", lambda error: uncaught.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type in ("error", "warning")
            else None
        ),
    )
    yield page
    directory = artifacts_dir()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=directory / f"{screenshot_name(request)}.png")
    except PlaywrightError as error:  # a crashed page: the test's own failure says more
        print(f"no screenshot: {error}")
    finally:
        context.close()
    failed = any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )
    if failed:  # printed in teardown: shown with the failure's report
        print("\n".join(uncaught + problems[-30:]))
        print(log_tails(stack))
    elif uncaught:  # an exception the page's script did not catch is a bug of the page
        pytest.fail("\n".join(uncaught), pytrace=False)


@pytest.fixture
def inbox(page: Page, company: Company) -> Inbox:
    """The inbox, signed in as the company's admin."""
    return Inbox(page).sign_in(company.admin.api_key)
