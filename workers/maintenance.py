"""The leader's maintenance: what runs, and how often, in exactly one worker at a time.

Each task is a plain function over the process's adapters; the node that leads runs the
due ones from its keeper thread (workers/node.py) and records every run in
`maintenance_runs`, so an operator (and the chaos suite) can see who did what, when.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.crypto import TokenCipher
from pipeline.services.nodes import FORGET_DEAD_NODES_SQL
from pipeline.services.retention import prune
from pipeline.services.sweeper import sweep
from pipeline.services.template_sync import sync_all_templates
from pipeline.services.webhook_endpoints import disable_failing_endpoints
from workers.queues import RedisQueues

if TYPE_CHECKING:
    from pipeline.bootstrap import Container

# The sweep hands a dead node's messages on and finds jobs a Redis restart lost: its
# period bounds how long either waits (plus one claim and, for a dead node's message, the
# ambiguous wait for a status webhook before resending).
SWEEP_EVERY_S = 5.0
# Pruning runs in short slices, so the sweep is never held up for long behind it: a slice
# that leaves rows behind is followed at once by the next.
PRUNE_EVERY_S = 60.0
PRUNE_SLICE_S = 2.0
FORGET_NODES_EVERY_S = 60.0
# Templates change when someone edits them at Meta; a status change also arrives by webhook,
# so the hourly sync only catches what no webhook told (new templates, edited components).
# An unchanged catalogue costs one GET per company and writes nothing.
TEMPLATE_SYNC_EVERY_S = 3600.0
# Webhook endpoints failing every delivery for WAPIPE_EVENTS_DISABLE_AFTER_HOURS: a minute
# late is nothing against five days.
DISABLE_ENDPOINTS_EVERY_S = 60.0
# A dead node's row stays this long, for `wapipe stats` and the attempts it signed.
FORGET_NODES_AFTER_S = 600


@dataclass
class Task:
    name: str
    every_s: float
    run: Callable[[], dict[str, Any]]
    next_at: float = field(default=0.0)

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def done(self, now: float, again: bool) -> None:
        """Schedule the next run: at once when the last one left work behind."""
        self.next_at = now if again else now + self.every_s


def maintenance_tasks(container: "Container") -> list[Task]:
    settings = container.settings
    queues = RedisQueues(container.broker)

    def sweep_once() -> dict[str, Any]:
        batch = settings.wapipe_sweep_batch
        report = sweep(
            container.db, container.queue, settings.wapipe_sweep_grace_seconds, batch, queues
        )
        return {
            "messages": len(report.messages),
            "taken_over": report.taken_over,
            "webhooks": len(report.webhooks),
            "parked": report.parked,
            "enqueue_errors": report.enqueue_errors,
            "again": len(report.messages) >= batch,
        }

    def prune_old_data() -> dict[str, Any]:
        report = prune(container.db, settings, budget_s=PRUNE_SLICE_S)
        return report.as_dict() | {"again": not report.complete}

    def forget_dead_nodes() -> dict[str, Any]:
        rows = container.db.run(
            FORGET_DEAD_NODES_SQL + " RETURNING n.id", {"after": FORGET_NODES_AFTER_S}
        )
        return {"forgotten": len(rows)}

    def sync_templates() -> dict[str, Any]:
        cipher = TokenCipher.from_settings(settings)
        errors = sync_all_templates(container.db, container.provider, cipher)
        return {"errors": errors[:10]}

    def disable_failing() -> dict[str, Any]:
        hours = settings.wapipe_events_disable_after_hours
        return {"disabled": [str(e) for e in disable_failing_endpoints(container.db, hours)]}

    return [
        Task("sweep", SWEEP_EVERY_S, sweep_once),
        Task("disable_failing_endpoints", DISABLE_ENDPOINTS_EVERY_S, disable_failing),
        Task("prune", PRUNE_EVERY_S, prune_old_data),
        Task("forget_nodes", FORGET_NODES_EVERY_S, forget_dead_nodes),
        Task("template_sync", TEMPLATE_SYNC_EVERY_S, sync_templates),
    ]
