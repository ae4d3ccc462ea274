"""`wapipe channels list|pause|resume`: a company's sending stops and starts, audited."""

import uuid

from dramatiq import Worker
from flask.testing import FlaskClient

from fakeprovider import FakeProvider
from pipeline.bootstrap import Container
from tests.cli_support import Wapipe, flat
from tests.conftest import Tenant
from tests.support import send_message, status_of, wait_for


def _channel(wapipe: Wapipe, tenant: Tenant) -> dict[str, str]:
    [mine] = [
        c for c in wapipe.json("channels", "list") if c["company_id"] == str(tenant.company_id)
    ]
    return mine


def test_a_paused_channel_holds_its_messages_until_resumed_and_both_are_audited(
    wapipe: Wapipe,
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    container: Container,
) -> None:
    company = ("--company", str(tenant.company_id))
    paused = wapipe("channels", "pause", *company, "--reason", "quality rating dropped").output
    assert f"paused {tenant.company_id}" in paused
    state = _channel(wapipe, tenant)
    assert (state["pause_code"], state["pause_reason"]) == ("manual", "quality rating dropped")
    assert "manual: quality rating dropped" in flat(wapipe("channels", "list").output)
    held = [send_message(client, tenant) for _ in range(3)]
    assert all(status_of(container, m) == "sending" for m in held)
    assert all(fake_provider.state.sends_for(m)["count"] == 0 for m in held)

    resumed = wapipe.json("channels", "resume", *company, "--reason", "rating back")
    assert resumed["started"] == 3
    wait_for(
        lambda: all(status_of(container, m) == "read" for m in held), what="held messages to go"
    )
    assert _channel(wapipe, tenant)["paused_at"] is None
    trail = wapipe.json("audit", *company)
    assert [(a["action"], a["reason"]) for a in trail] == [
        ("channels.resume", "rating back"),
        ("channels.pause", "quality rating dropped"),
    ]
    assert trail[0]["details"]["was"]["code"] == "manual"


def test_pausing_twice_or_resuming_an_active_channel_fails_in_one_line(
    wapipe: Wapipe, tenant: Tenant
) -> None:
    company = ("--company", str(tenant.company_id))
    resumed = wapipe("channels", "resume", *company, code=1)
    assert resumed.output.strip() == "Error: the channel is not paused"
    wapipe("channels", "pause", *company, "--reason", "first")
    again = wapipe("channels", "pause", *company, "--reason", "second", code=1)
    assert again.output.strip() == "Error: the channel is already paused"
    assert _channel(wapipe, tenant)["pause_reason"] == "first"


def test_pausing_an_unknown_company_fails_in_one_line(wapipe: Wapipe) -> None:
    result = wapipe("channels", "pause", "--company", str(uuid.uuid4()), code=1)
    assert result.output.strip() == "Error: no channel for this company"


def test_a_channel_halted_by_the_provider_shows_why_in_list_and_stats(
    wapipe: Wapipe,
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
) -> None:
    fake_provider.add_channel(tenant.phone_number_id, "rotated-token")  # ours is now refused
    waiting = send_message(client, tenant)
    wait_for(lambda: _channel(wapipe, tenant)["paused_at"], what="the channel to halt")
    assert _channel(wapipe, tenant)["pause_code"] == "190"
    stats = wapipe.json("stats", "--company", str(tenant.company_id))
    [paused] = stats["paused_channels"]
    assert (paused["code"], paused["waiting"]) == ("190", 1)
    assert paused["reason"]
    assert "paused channels" in wapipe("stats", "--company", str(tenant.company_id)).output
    fake_provider.add_channel(tenant.phone_number_id, tenant.access_token)
    wapipe("channels", "resume", "--company", str(tenant.company_id))
    assert wapipe.json("messages", "show", waiting)["status"] in ("sending", "sent", "read")


def test_a_new_token_set_from_the_cli_lets_a_halted_channel_send_again(
    wapipe: Wapipe,
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    container: Container,
) -> None:
    fake_provider.add_channel(tenant.phone_number_id, "token-renewed-at-meta")
    waiting = send_message(client, tenant)
    wait_for(lambda: _channel(wapipe, tenant)["paused_at"], what="the channel to halt")

    result = wapipe(
        "channels", "set-token", "--company", str(tenant.company_id),
        input="token-renewed-at-meta\n",
    )  # fmt: skip
    assert "token-renewed-at-meta" not in result.output
    wapipe("channels", "resume", "--company", str(tenant.company_id))

    wait_for(lambda: status_of(container, waiting) == "read", what="the waiting message")
    actions = wapipe.json("audit", "--company", str(tenant.company_id))
    assert "channels.set_token" in [a["action"] for a in actions]
    assert "token-renewed-at-meta" not in str(actions)


def test_set_rate_changes_what_list_shows_and_is_audited(wapipe: Wapipe, tenant: Tenant) -> None:
    company = ("--company", str(tenant.company_id))
    assert _channel(wapipe, tenant)["send_rate_mps"] == 80  # Meta's default tier
    changed = wapipe("channels", "set-rate", *company, "--mps", "250", "--reason", "tier 2")
    assert f"{tenant.company_id} sends up to 250 messages a second" in flat(changed.output)
    assert _channel(wapipe, tenant)["send_rate_mps"] == 250
    [row] = [
        line
        for line in wapipe("channels", "list").output.splitlines()
        if str(tenant.company_id) in line
    ]
    assert "250/s" in row
    again = wapipe.json("channels", "set-rate", *company, "--mps", "1000")
    assert again["send_rate_mps"] == 1000
    trail = wapipe.json("audit", *company, "--action", "channels.set_rate")
    assert [(a["details"]["from_mps"], a["details"]["to_mps"]) for a in trail] == [
        (250, 1000),
        (80, 250),
    ]
    assert trail[1]["reason"] == "tier 2"


def test_set_rate_refuses_rates_outside_metas_tiers_and_unknown_companies(
    wapipe: Wapipe, tenant: Tenant
) -> None:
    company = ("--company", str(tenant.company_id))
    for bad in ("0", "1001", "ten"):
        refused = wapipe("channels", "set-rate", *company, "--mps", bad, code=2)
        assert "Invalid value for '--mps'" in refused.output
    assert _channel(wapipe, tenant)["send_rate_mps"] == 80
    unknown = wapipe("channels", "set-rate", "--company", str(uuid.uuid4()), "--mps", "5", code=1)
    assert unknown.output.strip() == "Error: no channel for this company"
