"""Typed settings on the standard library's dataclasses: each key's type, default, range and meaning, declared once.

A section is a frozen dataclass whose fields are declared with :func:`setting`. :meth:`Section.parse` builds one
from a YAML mapping: unknown keys are refused (with the nearest known key), values are checked against the field's
type and range and converted where the conversion loses nothing (``"5"`` and ``5.0`` for an int, ``0``/``"yes"``
for a boolean; a boolean is never taken for a number). Every failure is a :class:`Invalid` naming the key.

swapvec's config is the one user of this module (``swapvec.config``); it stands apart so that the rules of reading a
value are written once, and so that swapvec needs no validation library of its own: platforms pin theirs (pydantic
1 on Databricks 15.4, 2 on 16.4) and an install must not change them.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

S = TypeVar("S", bound="Section")


class Invalid(ValueError):
    """A value or a key that cannot be used, with where it stands (``("train", "window")``) and what was given."""

    def __init__(self, loc: tuple[str, ...], message: str, given: Any = dataclasses.MISSING) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message
        self.given = given


def setting(
    default: Any = dataclasses.MISSING,
    doc: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    min_length: int | None = None,
    before: Callable[[Any], Any] | None = None,
    check: Callable[[Any], Any] | None = None,
    advanced: bool = False,
) -> Any:
    """A section's key: its default (or ``factory``), what it means (``doc``), its valid range, and optionally a
    conversion applied to the raw value (``before``) or a check of the converted one (``check``, which raises
    ValueError or returns the value to keep). ``advanced`` keys are tuning a run rarely needs; the reference lists
    them apart."""
    meta = {
        "doc": doc,
        "ge": ge,
        "gt": gt,
        "le": le,
        "min_length": min_length,
        "before": before,
        "check": check,
        "advanced": advanced,
    }
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class Section:
    """A frozen, validated group of settings. Subclasses declare fields with :func:`setting` and may override
    :meth:`check` for rules across their keys."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True)(cls)  # every section is a frozen dataclass without saying so
        init, names = cls.__init__, [f.name for f in dataclasses.fields(cls) if f.init]

        @functools.wraps(init)
        def __init__(self: Section, *args: Any, **kwargs: Any) -> None:
            if "_given" not in vars(self):  # built by its constructor: the keys given are the ones passed
                object.__setattr__(self, "_given", frozenset(names[: len(args)]) | frozenset(kwargs))
            init(self, *args, **kwargs)

        cls.__init__ = __init__  # type: ignore[method-assign]

    def __post_init__(self) -> None:
        self._validate(())

    def _validate(self, loc: tuple[str, ...]) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, Section):
                checked = _checked(f, _coerce(value, _hints(type(self))[f.name], (*loc, f.name)), (*loc, f.name))
                object.__setattr__(self, f.name, checked)
        try:
            self.check()
        except ValueError as exc:
            if isinstance(exc, Invalid):
                raise
            raise Invalid((), str(exc)) from None

    def check(self) -> None:
        """Rules across this section's keys; raise ValueError with a message that names them."""

    @property
    def given(self) -> frozenset[str]:
        """The keys set explicitly (in the file, an override or the constructor), not left at their default."""
        return self._given  # type: ignore[attr-defined]

    @classmethod
    def parse(cls: type[S], data: Any, loc: tuple[str, ...] = ()) -> S:
        """Build the section from a mapping read from YAML; raises :class:`Invalid` naming the first bad key."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise Invalid(loc, "Input should be a valid dictionary", data)
        names = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in names:
                close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
                hint = f"; did you mean {'.'.join([*loc, close[0]])!r}?" if close else ""
                raise Invalid((*loc, str(key)), "unknown key" + hint)
        hints = _hints(cls)
        values = {}
        for name, raw in data.items():
            kind = hints[name]
            if isinstance(kind, type) and issubclass(kind, Section):
                values[name] = kind.parse(raw, (*loc, name))
            else:
                before = next(f for f in dataclasses.fields(cls) if f.name == name).metadata.get("before")
                if before is not None and raw is not None:
                    try:
                        raw = before(raw)
                    except ValueError as exc:
                        raise Invalid((*loc, name), str(exc), raw) from None
                values[name] = raw
        try:
            return cls._build(values, frozenset(values))
        except Invalid as exc:
            raise Invalid((*loc, *exc.loc) if exc.loc else exc.loc, exc.message, exc.given) from None

    def replaced(self: S, **changes: Any) -> S:
        """A copy with ``changes`` applied, validated, and counted as given."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        return type(self)._build({**values, **changes}, self.given | frozenset(changes))

    @classmethod
    def _build(cls: type[S], values: dict[str, Any], given: frozenset[str]) -> S:
        # The keys given are known before validation, so that check() can tell a default from a value set to it.
        section = object.__new__(cls)
        object.__setattr__(section, "_given", given)
        section.__init__(**values)  # type: ignore[misc]
        return section

    def to_dict(self, given_only: bool = False) -> dict[str, Any]:
        """Plain values (JSON's types), sections as nested mappings; ``given_only``: the keys set explicitly alone
        (what parsing them again needs to give the same section, defaults left to be defaults)."""
        return {
            f.name: (v.to_dict(given_only) if isinstance(v, Section) else _plain(v))
            for f in dataclasses.fields(self)
            for v in [getattr(self, f.name)]
            if not given_only or isinstance(v, Section) or f.name in self.given
        }


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _checked(f: dataclasses.Field, value: Any, loc: tuple[str, ...]) -> Any:
    meta = f.metadata
    if isinstance(value, int | float) and not isinstance(value, bool):
        for bound, holds, words in (
            ("ge", lambda v, b: v >= b, "greater than or equal to"),
            ("gt", lambda v, b: v > b, "greater than"),
            ("le", lambda v, b: v <= b, "less than or equal to"),
        ):
            limit = meta.get(bound)
            if limit is not None and not holds(value, limit):
                raise Invalid(loc, f"Input should be {words} {limit}", value)
    least = meta.get("min_length")
    if least is not None and isinstance(value, str) and len(value) < least:
        raise Invalid(loc, f"String should have at least {least} character{'s' * (least != 1)}", value)
    check = meta.get("check")
    if check is not None and value is not None:
        try:
            value = check(value)
        except ValueError as exc:
            raise Invalid(loc, str(exc), value) from None
    return value


_TRUE = {"true", "yes", "on", "1", "t", "y"}
_FALSE = {"false", "no", "off", "0", "f", "n"}


def _coerce(value: Any, kind: Any, loc: tuple[str, ...]) -> Any:
    """``value`` as ``kind`` (a type hint of the forms the config uses), or :class:`Invalid`."""
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        members = get_args(kind)
        if value is None and type(None) in members:
            return None
        if isinstance(value, bool) and _numeric(kind):
            raise Invalid(loc, f"expected a number, got {str(value).lower()}")
        # The member of the value's own type first (a list for list[str] | str), then any that converts it.
        ordered = sorted((m for m in members if m is not type(None)), key=lambda m: not _same_kind(value, m))
        wanted = []
        for member in ordered:
            try:
                return _coerce(value, member, loc)
            except Invalid as exc:
                if exc.loc != loc:  # an item of a list: that item is what is wrong
                    raise
                wanted.append(exc.message.removeprefix("Input should be "))
        raise Invalid(loc, f"Input should be {' or '.join(wanted)}", value)
    if origin is Literal:
        choices = get_args(kind)
        if isinstance(value, bool) and all(type(c) is int for c in choices):
            raise Invalid(loc, f"expected a number, got {str(value).lower()}")
        for choice in choices:
            if type(choice) is type(value) and choice == value:
                return choice
        quoted = [repr(c) for c in choices]
        listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
        raise Invalid(loc, f"Input should be {listed}", value)
    if origin is list:
        (item,) = get_args(kind)
        if not isinstance(value, list | tuple):
            raise Invalid(loc, "Input should be a valid list", value)
        return [_coerce(v, item, (*loc, str(i))) for i, v in enumerate(value)]
    if origin is dict:
        key_kind, value_kind = get_args(kind)
        if not isinstance(value, Mapping):
            raise Invalid(loc, "Input should be a valid dictionary", value)
        return {_coerce(k, key_kind, loc): _coerce(v, value_kind, (*loc, str(k))) for k, v in value.items()}
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise Invalid(loc, "Input should be a valid boolean", value)
    if kind is int:
        if isinstance(value, bool):
            raise Invalid(loc, f"expected a number, got {str(value).lower()}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value.strip())
        raise Invalid(loc, "Input should be a valid integer", value)
    if kind is float:
        if isinstance(value, bool):
            raise Invalid(loc, f"expected a number, got {str(value).lower()}")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise Invalid(loc, "Input should be a valid number", value)
    if kind is str:
        if isinstance(value, str):
            return value
        raise Invalid(loc, "Input should be a valid string", value)
    if kind is Any:
        return value
    raise TypeError(f"{'.'.join(loc)}: a setting of type {kind!r} cannot be read")


def _numeric(kind: Any) -> bool:
    members = set(get_args(kind)) or {kind}
    return bool(members & {int, float}) and bool not in members


def _same_kind(value: Any, member: Any) -> bool:
    origin = get_origin(member) or member
    if origin is Literal:
        return value in get_args(member)
    return isinstance(origin, type) and isinstance(value, origin) and not isinstance(value, bool)


def keys(cls: type[Section], prefix: str = "") -> list[tuple[str, dataclasses.Field, Any]]:
    """Every key of a section and of the sections inside it, dotted, with its field and type: what the reference
    of the settings is generated from."""
    found = []
    for f in dataclasses.fields(cls):
        kind = _hints(cls)[f.name]
        name = f"{prefix}{f.name}"
        if isinstance(kind, type) and issubclass(kind, Section):
            found += keys(kind, f"{name}.")
        else:
            found.append((name, f, kind))
    return found
