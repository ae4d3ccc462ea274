"""schemathesis hooks for typed content (issue 9), loaded by tests/fuzz/formats.py.

A schema cannot say which templates a company has, nor that reply buttons' ids differ, nor
what bytes a PNG starts with. So: a positive upload is sent as a real PNG (the success path
is fuzzed end to end, the form's other fields as generated), and a 400 for a template or an
interactive message that only the catalogue or those cross-field rules refuse is not counted
as a schema-valid request rejected (tests/integration/test_templates.py and test_content.py
prove those rules one by one).
"""

from typing import Any

import schemathesis

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
_RUNTIME_CHECKED = ("template", "interactive")


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if case.operation.label != "POST /v1/media" or not _positive(case):
        return
    kwargs["files"] = [("file", ("fuzz.png", PNG, "image/png"))]
    kwargs["data"] = None


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    if getattr(failure, "code", None) != "ST202" or case.operation.label != "POST /v1/messages":
        return True
    body = case.body if isinstance(case.body, dict) else {}
    return not (body.get("type") in _RUNTIME_CHECKED and response.status_code == 400)


def _positive(case: Any) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive
