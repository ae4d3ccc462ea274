"""A batch of rows as one JSON parameter, read back in SQL with `jsonb_to_recordset`.

psycopg adapts a list parameter element by element in Python: the webhook applier's
statements, one array per column, spent a third of the applier's CPU there. json.dumps is
C, and PostgreSQL parses the document and casts each field in C.
"""

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any


def rows_json(rows: Iterable[Mapping[str, Any]]) -> str:
    """``rows`` as a JSON array of objects: times in ISO 8601, ids as text."""
    return json.dumps(list(rows), default=_plain)


def _plain(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"a {type(value).__name__} is not a column value")
