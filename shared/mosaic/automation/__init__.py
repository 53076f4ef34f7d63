"""Automation: rules (trigger + condition + actions), the actions vocabulary shared with
processes, the transactional job queue every low-code feature runs its after-commit work on,
and in-app notifications.

    step = AutomationStep()                        # in every RecordStore's steps
    rule = compile_rule(definition, obj, objects)  # checks an admin's or a plugin's rule
    run_due_jobs(engine, open_store)               # the service timer: run queued actions
    run_scheduled(engine, open_store, rules_by_tenant, now=now)   # scheduled rules came due
"""
from mosaic.automation.actions import (ACTIONS_JOB, apply_inline, queue_actions, split_actions,
                                       validate_actions)
from mosaic.automation.engine import AutomationStep, fire_stage_entered, queue_scheduled, run_scheduled
from mosaic.automation.execute import AssignmentCursor, run_actions_job
from mosaic.automation.jobs import (AutomationJob, Job, enqueue, purge_finished, register_handler,
                                    run_due_jobs, system_context)
from mosaic.automation.notifications import REQUESTED as NOTIFICATION_REQUESTED, Notification, notify, requested
from mosaic.automation.offsets import add_offset, check_offset
from mosaic.automation.rules import Rule, compile_rule

__all__ = [
    "ACTIONS_JOB", "apply_inline", "queue_actions", "split_actions", "validate_actions",
    "AutomationStep", "fire_stage_entered", "queue_scheduled", "run_scheduled",
    "AssignmentCursor", "run_actions_job",
    "AutomationJob", "Job", "enqueue", "purge_finished", "register_handler", "run_due_jobs", "system_context",
    "NOTIFICATION_REQUESTED", "Notification", "notify", "requested",
    "add_offset", "check_offset", "Rule", "compile_rule",
]
