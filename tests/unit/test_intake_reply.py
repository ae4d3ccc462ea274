"""The intake's 202 body, built by hand for speed, still says everything Accepted holds."""

import uuid
from dataclasses import asdict

from pipeline.services.intake import Accepted


def test_the_accepted_body_is_the_whole_accepted_record() -> None:
    accepted = Accepted(
        id=uuid.uuid4(),
        conversation_id=uuid.uuid4(),
        contact_id=uuid.uuid4(),
        created_contact=True,
        created_conversation=False,
        window_open=False,
    )
    assert accepted.body() == asdict(accepted)
    assert list(accepted.body()) == list(asdict(accepted))
