"""Run events: the trainer announces what it does, subscribers (timers, progress logs) listen.

Announced (``event``, with its details):

* ``train_epoch`` (``epoch``, ``examples``: the epoch's training examples),
* ``valid_epoch`` (``epoch``), ``evaluate`` (``validation``: inside a validation epoch or not),
* ``calibration`` (fitting the ranking-time scoring weights on validation),
* ``encode_catalogue`` (``titles``: the frozen LM encodes the item titles).

A subscriber is a callable ``(event, phase, info)``: ``phase`` is ``"start"`` or ``"end"``; at the end
``info`` also holds ``seconds``. Nothing replaces a library method at run time::

    with events.recording() as timings:
        run(...)
    timings.as_dict()["train_epochs"]  # [{"s": 1.2, "examples": 530}, ...]
"""
from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Callable, Dict, Iterator, List

logger = logging.getLogger(__name__)

Subscriber = Callable[[str, str, Dict[str, Any]], None]

#: The events the library announces.
EVENTS = ("train_epoch", "valid_epoch", "evaluate", "calibration", "encode_catalogue")

_subscribers: List[Subscriber] = []


def subscribe(subscriber: Subscriber) -> Subscriber:
    """Call ``subscriber`` for every event from now on; returns it."""
    _subscribers.append(subscriber)
    return subscriber


def unsubscribe(subscriber: Subscriber) -> None:
    """Stop calling ``subscriber`` (no error when it was not subscribed)."""
    if subscriber in _subscribers:
        _subscribers.remove(subscriber)


def _publish(event: str, phase: str, info: Dict[str, Any]) -> None:
    for subscriber in list(_subscribers):
        subscriber(event, phase, info)


@contextlib.contextmanager
def announce(event: str, **info: Any) -> Iterator[Dict[str, Any]]:
    """Announce the start of ``event``, run the block, announce its end with ``seconds`` (also when
    the block raises). The block may add details to the yielded dict."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; events: {', '.join(EVENTS)}")
    _publish(event, "start", info)
    start = time.perf_counter()
    try:
        yield info
    finally:
        info["seconds"] = time.perf_counter() - start
        _publish(event, "end", info)


class Timings:
    """A subscriber that keeps the seconds of every event: training epochs (with their examples),
    validation epochs, evaluations outside validation (the test), calibrations, title encodings."""

    def __init__(self) -> None:
        self.train_epochs: List[Dict[str, Any]] = []
        self.valid_epochs: List[float] = []
        self.test_evals: List[float] = []
        self.calibration_s: List[float] = []
        self.title_encodes: List[Dict[str, Any]] = []

    def __call__(self, event: str, phase: str, info: Dict[str, Any]) -> None:
        if phase != "end":
            return
        seconds = round(info["seconds"], 3)
        if event == "train_epoch":
            self.train_epochs.append({"s": seconds, "examples": info.get("examples")})
        elif event == "valid_epoch":
            self.valid_epochs.append(seconds)
        elif event == "evaluate" and not info.get("validation"):
            self.test_evals.append(seconds)
        elif event == "calibration":
            self.calibration_s.append(seconds)
        elif event == "encode_catalogue":
            self.title_encodes.append({"s": seconds, "titles": info.get("titles")})

    def as_dict(self) -> Dict[str, Any]:
        """The timings as plain lists (JSON)."""
        return {"train_epochs": list(self.train_epochs), "valid_epochs": list(self.valid_epochs),
                "test_evals": list(self.test_evals), "calibration_s": list(self.calibration_s),
                "title_encodes": list(self.title_encodes)}


@contextlib.contextmanager
def recording() -> Iterator[Timings]:
    """A :class:`Timings` subscribed for the block."""
    timings = Timings()
    subscribe(timings)
    try:
        yield timings
    finally:
        unsubscribe(timings)


def log_progress(event: str, phase: str, info: Dict[str, Any]) -> None:
    """A subscriber that logs every event's end: what it was and how long it took."""
    if phase == "end":
        details = ", ".join(f"{k} {v}" for k, v in info.items() if k != "seconds" and v is not None)
        logger.info("%s done in %.2f s%s", event, info["seconds"], f" ({details})" if details else "")
