"""Typed reading of the plain values (parsed JSON) that describe a model, its training and its history.

One place says how a value read from outside (a model file's metadata, a saved setting) is
checked: by type first (an int is an int, not a bool, a float or a string; a number is finite
unless said otherwise), then by range. The ranges themselves live beside what they bound
(`networks.LATENT_RANGE`, `training_config.SEED_RANGE`, ...), the same ones the CLI and the Run
form use. Every failure is a `ConfigError` naming the field and what it should be.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from vaestudio.core.errors import ConfigError

_MISSING = object()
MAX_TEXT = 4096  # characters of a free-text field (dataset spec, device, class name)


def _get(values: Mapping, key: str, default: Any) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"expected a JSON object holding {key!r}, found {type(values).__name__}")
    if key in values:
        return values[key]
    if default is _MISSING:
        raise ConfigError(f"{key!r} is missing")
    return default


def as_mapping(value: Any, what: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def as_list(value: Any, what: str, max_length: int) -> list:
    if not isinstance(value, list):
        raise ConfigError(f"{what} must be a list, not {type(value).__name__}")
    if len(value) > max_length:
        raise ConfigError(f"{what} has {len(value):,} entries; at most {max_length:,} are allowed")
    return value


def integer_value(value: Any, what: str, low: int | None = None, high: int | None = None) -> int:
    """`value` if it is an int (not a bool) within `low`..`high`, ends included."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{what} must be a whole number, not {value!r:.60}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{what} must be between {low if low is not None else '-inf'} and "
                          f"{high if high is not None else 'inf'} (got {value!r:.60})")
    return value


def integer(values: Mapping, key: str, low: int | None = None, high: int | None = None,
            default: Any = _MISSING) -> int:
    return integer_value(_get(values, key, default), key, low, high)


def number_value(value: Any, what: str, low: float | None = None, high: float | None = None, *,
                 finite: bool = True, above_low: bool = False) -> float:
    """`value` as a float if it is a real number (not a bool): finite unless `finite` is False, in range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{what} must be a number, not {value!r:.60}")
    try:
        value = float(value)
    except OverflowError:
        raise ConfigError(f"{what} is too large a number") from None
    if finite and not math.isfinite(value):
        raise ConfigError(f"{what} must be a finite number (got {value})")
    if math.isfinite(value):
        if low is not None and (value < low or (above_low and value == low)):
            raise ConfigError(f"{what} must be {'above' if above_low else 'at least'} {low:g} (got {value:g})")
        if high is not None and value > high:
            raise ConfigError(f"{what} must be at most {high:g} (got {value:g})")
    return value


def number(values: Mapping, key: str, low: float | None = None, high: float | None = None, *,
           finite: bool = True, above_low: bool = False, default: Any = _MISSING) -> float:
    return number_value(_get(values, key, default), key, low, high, finite=finite, above_low=above_low)


def optional_number(values: Mapping, key: str, *, finite: bool = True) -> float | None:
    value = _get(values, key, None)
    return None if value is None else number_value(value, key, finite=finite)


def number_list(values: Mapping, key: str, max_length: int, *, finite: bool = False,
                default: Any = _MISSING) -> list[float]:
    items = as_list(_get(values, key, default), key, max_length)
    return [number_value(item, f"{key}[{index}]", finite=finite) for index, item in enumerate(items)]


def choice(values: Mapping, key: str, options: Sequence[str], default: Any = _MISSING) -> str:
    value = _get(values, key, default)
    if not isinstance(value, str) or value not in options:
        raise ConfigError(f"{key} must be one of {', '.join(options)} (got {value!r:.60})")
    return value


def text(values: Mapping, key: str, default: Any = _MISSING, max_length: int = MAX_TEXT) -> str:
    return text_value(_get(values, key, default), key, max_length)


def text_value(value: Any, what: str, max_length: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be text, not {value!r:.60}")
    if len(value) > max_length:
        raise ConfigError(f"{what} is {len(value):,} characters long; at most {max_length:,} are allowed")
    return value


def boolean(values: Mapping, key: str, default: Any = _MISSING) -> bool:
    value = _get(values, key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false (got {value!r:.60})")
    return value
