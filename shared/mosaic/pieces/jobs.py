"""Background work, split so that a service polls only the timers of what it took:
:class:`Housekeeping` (one hourly purge) and :class:`AutomationJobs` (the low-code runtime's jobs)."""
from __future__ import annotations

from datetime import timedelta
from typing import Callable, ClassVar

from nameko.timer import timer

from mosaic.db.provider import Database
from mosaic.entrypoints import settings_timer
from mosaic.pieces.base import Piece
from mosaic.records.provider import Records
from mosaic.webhooks.egress import egress_policy
from mosaic.webhooks.sealing import secret_box

#: how long finished automation jobs and webhook deliveries (with their attempts) are kept
KEEP_FINISHED = timedelta(days=30)

#: a purge: ``purge(service, now)`` drops what the piece keeps no longer
Purge = Callable[[object, object], None]


def _purge_request_log(service, now) -> None:
    from mosaic import request_log

    request_log.purge(service.data.engine, now - request_log.RETENTION)


def _purge_jobs(service, now) -> None:
    from mosaic.automation.jobs import purge_finished

    purge_finished(service.data.engine, now - KEEP_FINISHED)


def _purge_deliveries(service, now) -> None:
    from mosaic.webhooks.delivery import purge_deliveries

    purge_deliveries(service.data.engine, now - KEEP_FINISHED)


class Housekeeping(Piece):
    """The hourly ``purge_finished_work`` timer: write outcomes past the request log's retention
    (every service with write RPCs takes it), and what other pieces list in their ``purges``.
    Needs the platform's request-log table."""

    needs = {"data": Database}
    purges: ClassVar[tuple[Purge, ...]] = (_purge_request_log,)

    @timer(interval=3600)
    def purge_finished_work(self):
        """Run every purge the service's pieces declare (each piece's ``purges``, once)."""
        from mosaic.db import utcnow

        now = utcnow()
        done: set = set()
        for klass in type(self).__mro__:
            for purge in vars(klass).get("purges", ()):
                if purge not in done:
                    done.add(purge)
                    purge(self, now)


class AutomationJobs(Housekeeping):
    """The low-code runtime's timers: ``run_jobs`` every ``MOSAIC_JOBS_INTERVAL`` (rule actions,
    process stage timers, webhook deliveries) and ``run_scheduled_rules`` every 30 s (rules on a
    date field); finished jobs and deliveries are purged after :data:`KEEP_FINISHED`, a job's key
    keeping its trigger from firing twice far longer than any trigger recurs. A service whose
    records carry processes or rules takes it; a read model does not, and polls nothing. Needs the
    platform's automation-job and webhook tables."""

    needs = {"data": Records}
    purges = (_purge_jobs, _purge_deliveries)

    @settings_timer("jobs_interval", 1.0)
    def run_jobs(self):
        """Due automation jobs (rule actions, stage timers) and the webhook deliveries of rules'
        ``webhook`` actions (subscriptions' deliveries are the hub's)."""
        from mosaic.automation.jobs import run_due_jobs
        from mosaic.webhooks.delivery import run_due_deliveries

        run_due_jobs(self.data.engine, self.data.provider.open_store, handlers=self.data.provider.job_handlers)
        run_due_deliveries(self.data.engine, policy=egress_policy(self.data.settings),
                           box=secret_box(self.data.settings))

    @timer(interval=30)
    def run_scheduled_rules(self):
        """Queue the scheduled automation rules that came due (their jobs run on ``run_jobs``)."""
        from mosaic.automation.engine import run_scheduled
        from mosaic.logic.tenant import scheduled_rules_by_tenant
        from mosaic.plugins import get_host

        provider = self.data.provider
        run_scheduled(self.data.engine, provider.open_store,
                      lambda: scheduled_rules_by_tenant(self.data.engine, provider.open_store, get_host()))
