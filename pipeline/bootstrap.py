"""The composition root: builds every adapter from one Settings. Connects lazily."""

from functools import cached_property

from dramatiq.brokers.redis import RedisBroker

from db.session import Database, make_engine
from pipeline import faults
from pipeline.api.ratelimit import ApiRateLimiter
from pipeline.api.session_cookie import SessionSealer
from pipeline.config import Settings, get_settings
from pipeline.events.dispatcher import Dispatcher, DispatcherMiddleware
from pipeline.provider.client import HttpWhatsAppClient
from pipeline.services.delivery import Deliverer
from pipeline.services.leases import LeaseBook
from pipeline.services.tenants import PrincipalCache
from webhooks.applier import WebhookApplier, WebhookApplierMiddleware
from workers.actors import Actors, DramatiqQueue, declare_actors
from workers.broker import make_broker
from workers.job_context import JobContext
from workers.maintenance import maintenance_tasks
from workers.metrics_server import MetricsServerMiddleware
from workers.node import NodeKeeper, NodeMiddleware, new_node_id
from workers.pacing import PromptDelayedJobs, make_pacer


class Container:
    """One per process: the engine and pool, the broker, the provider client."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        faults.configure(settings.wapipe_faults)
        self.db = Database(make_engine(settings.database_url, settings.wapipe_db_pool_size))
        self.broker: RedisBroker = make_broker(settings)
        self.actors: Actors = declare_actors(self.broker, lambda: self)
        # Only a worker boots it: the API's broker never starts one.
        self.broker.add_middleware(WebhookApplierMiddleware(lambda: WebhookApplier(self.db)))
        self.broker.add_middleware(NodeMiddleware(self._node_keeper))
        # Every worker process delivers the events outbox to webhook endpoints.
        self.broker.add_middleware(DispatcherMiddleware(lambda: Dispatcher(self.db, settings)))
        # Each job's ids for the logs and its trace; the group's /metrics and /healthz.
        self.broker.add_middleware(JobContext(lambda: self.node_id))
        self.broker.add_middleware(
            MetricsServerMiddleware(
                settings.wapipe_metrics_host,
                settings.wapipe_metrics_port,
                lambda: {"node": self.node_id},
            )
        )
        # Workers release paced (delayed) jobs when due, within 100 ms.
        self.broker.add_middleware(PromptDelayedJobs())
        self.pacer = make_pacer(self.broker)
        self.queue = DramatiqQueue(self.actors)
        self.principals = PrincipalCache(settings.wapipe_auth_cache_seconds)
        self.sessions = SessionSealer.from_settings(settings)  # the inbox's sign-in cookies
        self.rate_limiter = ApiRateLimiter(
            self.broker.client, settings.wapipe_queue_namespace, settings.wapipe_api_rate_limit
        )

    @cached_property
    def provider(self) -> HttpWhatsAppClient:
        return HttpWhatsAppClient(
            self.settings.whatsapp_api_base_url,
            self.settings.wapipe_http_timeout_seconds,
            self.settings.wapipe_http_tries,
        )

    @cached_property
    def node_id(self) -> str:
        """This process as a worker node: leases and delivery attempts carry it."""
        return new_node_id()

    @cached_property
    def leases(self) -> LeaseBook:
        return LeaseBook()

    @cached_property
    def deliverer(self) -> Deliverer:
        return Deliverer(
            self.db, self.provider, self.queue, self.settings, self.node_id, self.leases,
            gate=self.pacer,
        )  # fmt: skip

    def _node_keeper(self, queues: str) -> NodeKeeper:
        return NodeKeeper(
            self.node_id,
            self.settings.database_url,
            queues,
            self.leases,
            self.settings.wapipe_lease_seconds,
            lambda: maintenance_tasks(self),
        )

    def close(self) -> None:
        if "provider" in self.__dict__:
            self.provider.close()
        self.broker.close()
        self.db.dispose()


def bootstrap(settings: Settings | None = None) -> Container:
    return Container(settings or get_settings())
