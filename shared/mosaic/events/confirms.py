"""Bookkeeping of RabbitMQ publisher confirms for one batch of messages.

After ``confirm.select`` the broker numbers a channel's publishes 1, 2, 3, ... (delivery tags) and
answers each with ``basic.ack`` or ``basic.nack``; one answer with ``multiple`` set settles every
still-unsettled tag up to its own. Answers usually come in publish order but need not, so a
:class:`ConfirmTracker` keeps one state per message and tells which of the batch were confirmed.
"""
from __future__ import annotations


class ConfirmTracker:
    """The confirm state of ``size`` messages published with tags ``first_tag .. first_tag+size-1``."""

    def __init__(self, first_tag: int, size: int):
        self.first_tag = first_tag
        self.size = size
        self._state: list[bool | None] = [None] * size  # True acked, False nacked, None waiting
        self._low = 0  # every index below this one is settled (so `multiple` sweeps stay linear)
        self.pending = size

    def _settle(self, index: int, acked: bool) -> None:
        if self._state[index] is None:
            self._state[index] = acked
            self.pending -= 1

    def settle(self, tag: int, multiple: bool, acked: bool) -> None:
        """Record the broker's ack (``acked``) or nack of ``tag`` (and of every earlier unsettled
        tag when ``multiple``). Tags outside the batch are ignored: they belong to no one now."""
        index = tag - self.first_tag
        if index < 0:
            return
        if not multiple:
            if index < self.size:
                self._settle(index, acked)
        else:
            for i in range(self._low, min(index + 1, self.size)):
                self._settle(i, acked)
        while self._low < self.size and self._state[self._low] is not None:
            self._low += 1

    @property
    def settled(self) -> bool:
        """Whether the broker has answered for every message of the batch."""
        return self.pending == 0

    @property
    def confirmed(self) -> list[int]:
        """Indexes (into the batch, ascending) of the messages the broker acked."""
        return [i for i, state in enumerate(self._state) if state is True]

    @property
    def nacked(self) -> list[int]:
        """Indexes of the messages the broker refused."""
        return [i for i, state in enumerate(self._state) if state is False]
