"""Processes: state machines over one picklist field of an object (stages, transitions with
roles, guards and approvals, on_enter actions and stage timers).

- :mod:`mosaic.processes.definitions` — :func:`compile_process` checks a definition and builds a
  :class:`Process` (the admin API and the runtime share it).
- :mod:`mosaic.processes.engine` — :class:`~mosaic.processes.engine.ProcessStep` (the write
  pipeline step), ``transition``, ``transition_system`` and the ``process_timer`` job handler
  (registered when the module is imported).
- :mod:`mosaic.processes.approvals` — ``approve``, ``reject``, ``history``, ``approvals``.
- :mod:`mosaic.processes.models` — the ``process_transitions`` and ``process_approvals`` tables.

"""
from mosaic.processes.definitions import Process, Stage, Timer, Transition, compile_process
from mosaic.processes.models import ProcessApproval, ProcessTransition

__all__ = ["compile_process", "Process", "Stage", "Timer", "Transition", "ProcessApproval",
           "ProcessTransition"]
