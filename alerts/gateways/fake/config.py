"""The fake Twilio's settings (``FakeConfig``: latency, injected errors, rules per number, status
callbacks) and how a JSON change to them is checked and applied, one rule per setting."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

FINAL_STATUSES = ("delivered", "undelivered", "failed")
INJECTABLE = ("429", "500", "503", "timeout", "drop")
NUMBER_SETS = ("not_mobile", "landlines", "unsubscribed", "owned_numbers", "messaging_services",
               "not_on_whatsapp")
# What a call to a number does (``NumberRule.call``): it is answered (and the digits of
# ``NumberRule.digits`` are pressed one per question), or it rings out, is busy, or fails.
CALL_OUTCOMES = ("answer", "no-answer", "busy", "failed")
DIGITS = frozenset("0123456789*#")


@dataclass
class CallbackConfig:
    enabled: bool = True
    sent_delay_ms: float = 10.0  # after acceptance: "sent"
    final_delay_ms: float = 30.0  # after acceptance: the final status
    duplicate_rate: float = 0.0  # share of callbacks posted twice
    shuffle: bool = False  # post the final status before "sent"
    final_status: str = "delivered"  # delivered / undelivered / failed, for numbers without a rule
    error_code: int | None = None  # ErrorCode with an undelivered/failed final status
    queued: bool = False  # also post "queued" (or "accepted") right away
    timeout_s: float = 10.0


@dataclass
class NumberRule:
    """What happens to messages for one number."""

    error: int | str | None = None  # API error: a Twilio code, or 429/500/503/"timeout"/"drop"
    times: int | None = None  # answer the error this many times, then normally (None: always)
    final_status: str | None = None  # the final status callback for this number
    error_code: int | None = None  # its ErrorCode
    call: str | None = None  # a call to this number: one of CALL_OUTCOMES (None: answered)
    digits: str | None = None  # keys pressed on an answered call, one per <Gather> ("91": 9 then 1)


@dataclass
class FakeConfig:
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_rate: float = 0.0  # share of create requests answered with an injected error
    error_mix: dict[str, float] = field(default_factory=lambda: {"429": 1.0})  # shares by kind
    retry_after: float | None = 1.0  # Retry-After header (seconds) on 429 and 503
    timeout_ms: float = 30_000.0  # how long an injected "timeout" holds the request
    timeout_accepts: bool = True  # an injected timeout still accepts the message (answer lost)
    # Each API request waits until this many are in flight together (0: off), at most hold_timeout_ms:
    # a client that serialises its requests never opens the gate, however fast or slow the machine.
    hold_until_in_flight: int = 0
    hold_timeout_ms: float = 60_000.0
    numbers: dict[str, NumberRule] = field(default_factory=dict)
    not_mobile: set[str] = field(default_factory=set)  # 21614
    landlines: set[str] = field(default_factory=set)  # accepted, then undelivered 30006
    unsubscribed: set[str] = field(default_factory=set)  # 21610 (a STOP inbound adds the number)
    blocked_prefixes: list[str] = field(default_factory=list)  # 21408, e.g. ["+98", "+850"]
    owned_numbers: set[str] = field(default_factory=set)  # valid From numbers (empty: any E.164)
    messaging_services: set[str] = field(default_factory=set)  # valid MG SIDs (empty: any MG…)
    # Numbers without WhatsApp: a message to "whatsapp:<number>" is accepted, then fails with 63003.
    not_on_whatsapp: set[str] = field(default_factory=set)
    callbacks: CallbackConfig = field(default_factory=CallbackConfig)
    seed: int | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in NUMBER_SETS:
            data[name] = sorted(data[name])
        return data


# --- checking and applying a change -----------------------------------------------------------

# Each setting has a rule ``(config, name, value)`` that checks the value and applies it; a bad
# value raises ValueError naming the setting. Settings are applied in the order given, as before.
Rule = Callable[[FakeConfig, str, Any], None]


def _non_negative(name: str, value: Any) -> float:
    number = float(value)
    if number < 0:
        raise ValueError(f"{name} must be >= 0")
    return number


def _as_set(value: Any, name: str) -> set[str]:
    if not isinstance(value, list | set | tuple):
        raise ValueError(f"{name} must be a list of numbers")
    return {str(v) for v in value}


def _milliseconds(config: FakeConfig, name: str, value: Any) -> None:
    setattr(config, name, _non_negative(name, value))


def _error_rate(config: FakeConfig, name: str, value: Any) -> None:
    rate = float(value)
    if not 0 <= rate <= 1:
        raise ValueError("error_rate must be between 0 and 1")
    config.error_rate = rate


def _error_mix(config: FakeConfig, name: str, value: Any) -> None:
    if not isinstance(value, dict) or not value:
        raise ValueError("error_mix must be an object like {\"429\": 0.5, \"500\": 0.5}")
    mix = {str(k): float(v) for k, v in value.items()}
    bad = [k for k in mix if k not in INJECTABLE]
    if bad or any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
        raise ValueError(f"error_mix takes non-negative shares of {', '.join(INJECTABLE)}")
    config.error_mix = mix


def _hold_until_in_flight(config: FakeConfig, name: str, value: Any) -> None:
    wanted = int(value)
    if wanted < 0:
        raise ValueError("hold_until_in_flight must be >= 0")
    config.hold_until_in_flight = wanted


def _optional_seconds(config: FakeConfig, name: str, value: Any) -> None:
    setattr(config, name, None if value is None else float(value))


def _flag(config: FakeConfig, name: str, value: Any) -> None:
    setattr(config, name, bool(value))


def _optional_int(config: FakeConfig, name: str, value: Any) -> None:
    setattr(config, name, None if value is None else int(value))


def _numbers(config: FakeConfig, name: str, value: Any) -> None:
    """Rules per number merge into the existing ones; ``null`` for a number removes its rule."""
    if not isinstance(value, dict):
        raise ValueError("numbers must be an object keyed by E.164 number")
    for number, rule in value.items():
        if rule is None:
            config.numbers.pop(number, None)
            continue
        if not isinstance(rule, dict):
            raise ValueError(f"numbers[{number!r}] must be an object")
        unknown = set(rule) - {f.name for f in fields(NumberRule)}
        if unknown:
            raise ValueError(f"numbers[{number!r}]: unknown {', '.join(sorted(unknown))}")
        parsed = NumberRule(**rule)
        if parsed.final_status is not None and parsed.final_status not in FINAL_STATUSES:
            raise ValueError(f"final_status must be one of {', '.join(FINAL_STATUSES)}")
        if isinstance(parsed.error, str) and parsed.error not in ("timeout", "drop"):
            parsed.error = int(parsed.error)
        if parsed.call is not None and parsed.call not in CALL_OUTCOMES:
            raise ValueError(f"call must be one of {', '.join(CALL_OUTCOMES)}")
        if parsed.digits is not None and not set(str(parsed.digits)) <= DIGITS:
            raise ValueError("digits are keys of a phone: 0-9, * and #")
        config.numbers[str(number)] = parsed


def _number_set(config: FakeConfig, name: str, value: Any) -> None:
    setattr(config, name, _as_set(value, name))


def _prefixes(config: FakeConfig, name: str, value: Any) -> None:
    config.blocked_prefixes = sorted(_as_set(value, name))


def _callback_final_status(value: Any) -> Any:
    if value not in FINAL_STATUSES:
        raise ValueError(f"callbacks.final_status must be one of {', '.join(FINAL_STATUSES)}")
    return value


# The status-callback settings merge one by one: name → how its value is read.
CALLBACK_RULES: dict[str, Callable[[Any], Any]] = {
    "enabled": bool,
    "shuffle": bool,
    "queued": bool,
    "error_code": lambda value: None if value is None else int(value),
    "final_status": _callback_final_status,
    **{name: functools.partial(_non_negative, f"callbacks.{name}")
       for name in ("sent_delay_ms", "final_delay_ms", "duplicate_rate", "timeout_s")},
}


def _callbacks(config: FakeConfig, name: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise ValueError("callbacks must be an object")
    for setting, item in value.items():
        read = CALLBACK_RULES.get(setting)
        if read is None:
            raise ValueError(f"callbacks: unknown setting {setting!r}")
        setattr(config.callbacks, setting, read(item))


RULES: dict[str, Rule] = {
    "latency_ms": _milliseconds,
    "latency_jitter_ms": _milliseconds,
    "timeout_ms": _milliseconds,
    "hold_timeout_ms": _milliseconds,
    "error_rate": _error_rate,
    "error_mix": _error_mix,
    "hold_until_in_flight": _hold_until_in_flight,
    "retry_after": _optional_seconds,
    "timeout_accepts": _flag,
    "numbers": _numbers,
    **dict.fromkeys(NUMBER_SETS, _number_set),
    "blocked_prefixes": _prefixes,
    "callbacks": _callbacks,
    "seed": _optional_int,
}
# Every setting has its rule, and every setting of the callbacks too.
assert set(RULES) == {f.name for f in fields(FakeConfig)}
assert set(CALLBACK_RULES) == {f.name for f in fields(CallbackConfig)}


def apply_config(config: FakeConfig, changes: dict[str, Any]) -> None:
    """Merge ``changes`` (JSON-shaped) into ``config``; ValueError names a bad key or value."""
    for key, value in changes.items():
        rule = RULES.get(key)
        if rule is None:
            raise ValueError(f"unknown setting {key!r}")
        rule(config, key, value)
