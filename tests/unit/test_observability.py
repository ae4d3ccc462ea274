"""Log lines are JSON with the ids of their context; hostile request ids are not echoed."""

import json
import logging
import sys

from pipeline.observability import logs


def _line(record: logging.LogRecord) -> dict[str, object]:
    parsed = json.loads(logs.JsonFormatter().format(record))
    assert isinstance(parsed, dict)
    return parsed


def test_a_line_has_time_level_logger_event_and_the_bound_ids() -> None:
    record = logging.makeLogRecord(
        {"name": "wapipe.delivery", "levelno": logging.INFO, "levelname": "INFO",
         "msg": "message %s sent", "args": ("m-1",), "wamid": "wamid.X"}
    )  # fmt: skip
    with logs.bound(request_id="req-1", message_id="m-1", company_id="c-1", worker="w:1:ab"):
        line = _line(record)
    assert line["event"] == "message m-1 sent"
    assert line["level"] == "info"
    assert line["logger"] == "wapipe.delivery"
    assert line["request_id"] == "req-1"
    assert line["message_id"] == "m-1"
    assert line["company_id"] == "c-1"
    assert line["worker"] == "w:1:ab"
    assert line["wamid"] == "wamid.X"  # extra fields become fields
    assert "T" in str(line["time"])
    assert "request_id" not in _line(record)  # the context ended with the block


def test_an_exception_is_logged_by_type_and_place_never_by_its_text() -> None:
    secret = "-".join(("EAAG", "secret"))  # a value, as a token would be, not source text
    try:
        raise ValueError(f"token={secret} and the customer's text")
    except ValueError:
        record = logging.makeLogRecord(
            {"name": "x", "levelname": "ERROR", "msg": "failed", "exc_info": sys.exc_info()}
        )
    line = _line(record)
    assert line["error"] == "ValueError"
    assert "test_observability.py" in str(line["traceback"])
    assert secret not in json.dumps(line)


def test_a_request_id_is_taken_only_when_it_is_a_plain_token() -> None:
    assert logs.request_id_from("abc-123_X.y:z") == "abc-123_X.y:z"
    for hostile in ("", "a" * 129, "x\r\nSet-Cookie: a=b", "café", "<script>"):
        made = logs.request_id_from(hostile)
        assert made != hostile
        assert len(made) == 32


def test_step_timings_are_fields_in_milliseconds() -> None:
    timings = logs.Timings()
    timings.mark("write")
    timings.mark("enqueue")
    fields = timings.total()
    assert set(fields) == {"write_ms", "enqueue_ms", "total_ms"}
    assert 0 <= fields["write_ms"] + fields["enqueue_ms"] <= fields["total_ms"]


def test_times_are_iso_8601_utc_to_the_millisecond() -> None:
    record = logging.makeLogRecord({"msg": "x"})
    record.created = 1796190000.0456  # 2026-12-02T05:40:00.045Z
    assert _line(record)["time"] == "2026-12-02T05:40:00.045+00:00"
    record.created = 1796190001.9999
    assert _line(record)["time"] == "2026-12-02T05:40:01.999+00:00"


def test_pending_counts_and_observations_reach_the_metrics_when_flushed() -> None:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    from pipeline.observability.metrics import _Pending

    registry = CollectorRegistry()
    counter = Counter("t_requests_total", "t", ["code"], registry=registry)
    histogram = Histogram("t_seconds", "t", ["route"], buckets=(0.1, 1.0), registry=registry)
    pending = _Pending()
    for _ in range(3):
        pending.count(counter, ("200",))
    pending.observe(histogram, ("/a",), 0.05)
    pending.observe(histogram, ("/a",), 0.5)
    pending.observe(histogram, ("/a",), 5.0)
    assert registry.get_sample_value("t_requests_total", {"code": "200"}) is None  # not yet
    pending.flush()
    assert registry.get_sample_value("t_requests_total", {"code": "200"}) == 3
    bucket = {"route": "/a"}
    assert registry.get_sample_value("t_seconds_bucket", bucket | {"le": "0.1"}) == 1
    assert registry.get_sample_value("t_seconds_bucket", bucket | {"le": "1.0"}) == 2
    assert registry.get_sample_value("t_seconds_bucket", bucket | {"le": "+Inf"}) == 3
    assert registry.get_sample_value("t_seconds_sum", bucket) == 5.55
    pending.flush()  # nothing counted twice
    assert registry.get_sample_value("t_requests_total", {"code": "200"}) == 3
