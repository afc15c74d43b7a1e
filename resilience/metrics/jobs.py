"""Runs of APScheduler jobs (store upkeep, platform watch, risk recompute, alert tick ...): how many
succeeded, failed or were missed, and when each last succeeded, so a job that quietly stopped shows."""

from __future__ import annotations

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.base import BaseScheduler
from prometheus_client import Counter, Gauge

JOB_RUNS = Counter("lifeline_job_runs_total", "Scheduled job runs by job and result", ["job", "result"])
JOB_LAST_SUCCESS = Gauge(
    "lifeline_job_last_success_timestamp_seconds", "Unix time each scheduled job last ran without error", ["job"]
)
RESULTS = {EVENT_JOB_EXECUTED: "ok", EVENT_JOB_ERROR: "error", EVENT_JOB_MISSED: "missed"}


def instrument_jobs(scheduler: BaseScheduler) -> None:
    """Count every run of ``scheduler``'s jobs (those added so far start at 0)."""
    for job in scheduler.get_jobs():
        for result in RESULTS.values():
            JOB_RUNS.labels(job.id, result)

    def record(event: JobEvent) -> None:
        JOB_RUNS.labels(event.job_id, RESULTS.get(event.code, "other")).inc()
        if event.code == EVENT_JOB_EXECUTED:
            JOB_LAST_SUCCESS.labels(event.job_id).set_to_current_time()

    scheduler.add_listener(record, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
