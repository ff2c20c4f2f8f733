"""Checks of single setting values: each raises ``ValueError`` naming the key."""
from __future__ import annotations

from typing import Any, Optional


def choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    """``value`` must be one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def integer(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (a whole float is accepted)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def optional_integer(name: str, value: Any, minimum: int) -> Optional[int]:
    """None (the key's "off" or "all"), or ``value`` as an int >= ``minimum``."""
    return None if value is None else integer(name, value, minimum)


def number(name: str, value: Any) -> float:
    """``value`` as a float (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def fraction(name: str, value: Any) -> float:
    """``value`` as a float in [0, 1)."""
    value = number(name, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value


def non_negative(name: str, value: Any, optional: bool = False) -> Optional[float]:
    """``value`` as a float >= 0 (None kept when ``optional``)."""
    if value is None and optional:
        return None
    value = number(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def bools(record: Any, names: tuple[str, ...]) -> None:
    """Each attribute ``names`` of ``record`` must be True or False."""
    for name in names:
        value = getattr(record, name)
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
