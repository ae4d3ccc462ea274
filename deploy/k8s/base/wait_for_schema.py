"""Wait until the database schema is at this image's Alembic head (the migration Job's work).

Run as an init container of the api and worker pods, so new code never runs against an old
schema: Kubernetes has no "after this Job" for a Deployment. Exits 0 once the schema is at
head; polls until then, printing why it waits. Reads DATABASE_URL like every wapipe process.
"""

import os
import sys
import time

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from db.migrate import alembic_config

POLL_SECONDS = 2.0


def main() -> int:
    url = os.environ["DATABASE_URL"]
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = create_engine(url, pool_pre_ping=True)
    last = ""
    while True:
        try:
            with engine.connect() as conn:
                current = MigrationContext.configure(conn).get_current_revision()
            why = f"schema at {current}, waiting for {head}"
        except Exception as error:  # the database may not be up yet: wait, say so once
            current, why = None, f"database not reachable ({type(error).__name__})"
        if current == head:
            print(f"schema at {head}", flush=True)  # noqa: T201 - the init container's log
            return 0
        if why != last:
            print(why, file=sys.stderr, flush=True)  # noqa: T201
            last = why
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
