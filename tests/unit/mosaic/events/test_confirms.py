"""ConfirmTracker: which messages of a batch the broker acked, nacked or left unanswered."""
from __future__ import annotations

from mosaic.events.confirms import ConfirmTracker


def test_single_acks_in_any_order():
    tracker = ConfirmTracker(first_tag=1, size=3)
    tracker.settle(2, multiple=False, acked=True)
    assert not tracker.settled and tracker.confirmed == [1]
    tracker.settle(1, multiple=False, acked=True)
    tracker.settle(3, multiple=False, acked=True)
    assert tracker.settled and tracker.confirmed == [0, 1, 2] and tracker.nacked == []


def test_multiple_settles_every_unsettled_tag_up_to_its_own():
    tracker = ConfirmTracker(first_tag=11, size=5)
    tracker.settle(12, multiple=False, acked=False)  # a nack first, then a multiple ack past it
    tracker.settle(14, multiple=True, acked=True)
    assert tracker.pending == 1
    assert tracker.confirmed == [0, 2, 3] and tracker.nacked == [1]
    tracker.settle(15, multiple=True, acked=False)
    assert tracker.settled and tracker.nacked == [1, 4]


def test_tags_outside_the_batch_are_ignored():
    tracker = ConfirmTracker(first_tag=10, size=2)
    tracker.settle(9, multiple=False, acked=True)   # an earlier batch's
    tracker.settle(12, multiple=False, acked=True)  # past the end
    assert tracker.pending == 2
    tracker.settle(99, multiple=True, acked=True)   # multiple past the end still covers the batch
    assert tracker.confirmed == [0, 1]


def test_an_answer_twice_counts_once():
    tracker = ConfirmTracker(first_tag=1, size=2)
    tracker.settle(1, multiple=False, acked=True)
    tracker.settle(1, multiple=True, acked=False)
    assert tracker.pending == 1 and tracker.confirmed == [0]
