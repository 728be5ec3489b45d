"""Typed options: every owner of knobs declares them once, as a frozen dataclass.

The run (batching, target QPS, precision: harness.knobs.RunOptions), each backend (its ``Options``) and
each model (``ModelSpec.options``) own their knobs. Declaring a field with ``option(...)`` is the only
edit a new knob needs: the system-config schema, ``--set`` parsing, the run record and the docs' knob
table (``python -m harness knobs``) are all derived from these dataclasses.

Supported field types: bool, int, float, str, each optionally ``| None``. ``choices`` restricts a str,
``minimum`` / ``maximum`` bound a number. Values from YAML are checked strictly (``batch_size: eight``
and ``use_cuda_graphs: 1`` are refused); values from ``--set`` are parsed from text first.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from harness.errors import HarnessError

_KINDS = (bool, int, float, str)


def option(default: Any, help: str, *, choices: Sequence[str] | None = None, minimum: float | None = None,
           maximum: float | None = None) -> Any:
    """A dataclass field that is a knob: its default, one line of help, and its allowed values."""
    return field(default=default, metadata={"help": help, "choices": tuple(choices) if choices else None,
                                            "minimum": minimum, "maximum": maximum})


@dataclass(frozen=True)
class NoOptions:
    """For owners without knobs of their own."""


@dataclass(frozen=True)
class OptionField:
    """One knob as the schema sees it."""

    name: str
    kind: type
    optional: bool
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def type_text(self) -> str:
        text = self.kind.__name__
        if self.choices:
            text = " | ".join(self.choices)
        return f"{text} | null" if self.optional else text

    def check(self, value: Any, where: str) -> Any:
        """A value read from YAML (already typed): returned as the field's type, or a HarnessError."""
        if value is None:
            if self.optional:
                return None
            raise HarnessError(f"{where}: {self.name} cannot be empty", f"{self.name}: {self.type_text}")
        kind = self.kind
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise HarnessError(f"{where}: {self.name} must be {_article(self.type_text)}, got {value!r}",
                               f"e.g. {self.name}: {self._example()}")
        if kind is float and not math.isfinite(value):
            raise HarnessError(f"{where}: {self.name} must be a finite number, got {value!r}")
        if self.choices and value not in self.choices:
            raise HarnessError(f"{where}: {self.name} '{value}' unknown", "use one of " + ", ".join(self.choices))
        if self.minimum is not None and value < self.minimum:
            raise HarnessError(f"{where}: {self.name} must be >= {self.minimum:g}, got {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise HarnessError(f"{where}: {self.name} must be <= {self.maximum:g}, got {value!r}")
        return value

    def parse(self, raw: str, where: str) -> Any:
        """A value given as text (``--set name=value``)."""
        text = raw.strip()
        value: Any = text
        if self.optional and text.lower() in ("none", "null", ""):
            return None
        if self.kind is bool:
            lowered = text.lower()
            if lowered in ("true", "yes", "on", "1"):
                value = True
            elif lowered in ("false", "no", "off", "0"):
                value = False
        elif self.kind is int:
            try:
                value = int(text)
            except ValueError:
                pass
        elif self.kind is float:
            try:
                value = float(text)
            except ValueError:
                pass
        return self.check(value, where)

    def _example(self) -> str:
        if self.choices:
            return self.choices[0]
        return {bool: "true", int: "8", float: "1000.0", str: "text"}[self.kind]


def _article(text: str) -> str:
    names = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string"}
    return names.get(text.replace(" | null", ""), "one of " + text) + (" (or null)" if "| null" in text else "")


def _unwrap(annotation: Any) -> tuple[type, bool]:
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and rest[0] in _KINDS:
            return rest[0], True
    if annotation in _KINDS:
        return annotation, False
    raise TypeError(f"option type {annotation!r} is not one of bool, int, float, str (optionally | None)")


def schema(cls: Any) -> dict[str, OptionField]:
    """The knobs an options dataclass declares, by name."""
    return _schema(cls)


@cache
def _schema(cls: type) -> dict[str, OptionField]:
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        kind, optional = _unwrap(hints[f.name])
        meta = f.metadata
        out[f.name] = OptionField(f.name, kind, optional, f.default, str(meta.get("help", "")),
                                  meta.get("choices"), meta.get("minimum"), meta.get("maximum"))
    return out


def closest(word: str, options: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_key(where: str, key: str, allowed: Iterable[str]) -> HarnessError:
    allowed = sorted(allowed)
    close = closest(str(key), allowed)
    hint = f" (did you mean '{close}'?)" if close else ""
    return HarnessError(f"{where}: unknown key '{key}'{hint}", "valid keys here: " + ", ".join(allowed))


def build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """An instance of ``cls`` from already-typed values (YAML); unknown or ill-typed keys are refused."""
    fields_ = schema(cls)
    checked = {}
    for key, value in values.items():
        if key not in fields_:
            raise unknown_key(where, key, fields_)
        checked[key] = fields_[key].check(value, where)
    return cls(**checked)


def to_dict(options: Any) -> dict[str, Any]:
    return dataclasses.asdict(options)


def table_rows(owner: str, cls: type) -> list[tuple[str, str, str, str, str]]:
    """(owner, name, type, default, help) per knob, for the docs' table."""
    rows = []
    for f in schema(cls).values():
        default = "null" if f.default is None else (str(f.default).lower() if f.kind is bool else str(f.default))
        rows.append((owner, f.name, f.type_text, default, f.help))
    return rows
