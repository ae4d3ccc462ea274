"""Helpers of the typed-content tests: a customer writing in through the fake provider."""

from typing import Any

import httpx

from fakeprovider import FakeProvider
from tests.conftest import Tenant


def customer_writes(fake: FakeProvider, tenant: Tenant, phone: str, **message: Any) -> str:
    """The fake posts a signed inbound webhook to wapipe; the customer's message's wamid."""
    body = {"phone_number_id": tenant.phone_number_id, "from": phone, **message}
    response = httpx.post(f"{fake.url}/_fake/inbound", json=body, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["webhook_status"] == 200
    wamid: str = response.json()["wamid"]
    return wamid
