"""Value shapes between host functions and wasmtime-py's component values, decided once per type.

wasmtime-py (`wasmtime.component`) writes a `result`, `option` or `variant` as a bare Python
value when its cases differ in Python class, and as a tagged `Variant(tag, payload)` when two
cases could be confused (both unit, both `int`, ...). So `result<u64, stream-error>` travels as a
bare `int` or `None`, while `result<_, stream-error>` travels as `Variant("ok")`. Host functions
here always speak the tagged form (`ok(x)`, `err(e)`, `some(x)`, `NONE`, `case(tag, x)`);
`lowering(ty)` and `lifting(ty)` build, once per function type of a component, the converters
to and from wasmtime-py's shape for that exact type, nesting included. A converter is None where
the shapes already agree, so a call pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wasmtime.component import (
    ListType,
    OptionType,
    Record,
    RecordType,
    ResultType,
    TupleType,
    ValType,
    Variant,
    VariantType,
)

Convert = Callable[[Any], Any]
NONE = Variant("none")


def ok(value: Any = None) -> Variant:
    return Variant("ok", value)


def err(value: Any = None) -> Variant:
    return Variant("err", value)


def some(value: Any) -> Variant:
    return Variant("some", value)


def case(tag: str, value: Any = None) -> Variant:
    return Variant(tag, value)


def _cases(ty: ValType) -> list[tuple[str, ValType | None]] | None:
    if isinstance(ty, (ResultType, OptionType, VariantType)):
        return ty._cases()
    return None


def lowering(ty: ValType | None) -> Convert | None:
    """The converter from the tagged form to wasmtime-py's shape of `ty`, or None for identity."""
    if ty is None:
        return None
    cases = _cases(ty)
    if cases is not None:
        assert isinstance(ty, (ResultType, OptionType, VariantType))
        inner = {name: lowering(case_ty) for name, case_ty in cases}
        if ty._tagged():
            if not any(inner.values()):
                return None

            def tagged(value: Variant) -> Variant:
                convert = inner[value.tag]
                return Variant(value.tag, convert(value.payload) if convert else value.payload)

            return tagged

        def bare(value: Variant) -> Any:
            convert = inner[value.tag]
            return convert(value.payload) if convert else value.payload

        return bare
    if isinstance(ty, ListType):
        element = lowering(ty.element)
        return None if element is None else (lambda value: [element(item) for item in value])
    if isinstance(ty, TupleType):
        parts = [lowering(part) for part in ty.elements]
        if not any(parts):
            return None
        return lambda value: tuple(c(v) if c else v for c, v in zip(parts, value, strict=True))
    if isinstance(ty, RecordType):
        fields = [(name, lowering(field_ty)) for name, field_ty in ty.fields]

        def record(value: dict[str, Any]) -> Record:
            out = Record()
            for name, convert in fields:
                setattr(out, name, convert(value[name]) if convert else value[name])
            return out

        return record
    return None


def _classes(ty: ValType | None) -> tuple[type, ...]:
    found: set[type] = set()
    if ty is None:
        found.add(type(None))
    else:
        ty.add_classes(found)
    return tuple(found)


def lifting(ty: ValType | None) -> Convert | None:
    """The converter from wasmtime-py's shape of `ty` to the tagged form, or None for identity."""
    if ty is None:
        return None
    cases = _cases(ty)
    if cases is not None:
        assert isinstance(ty, (ResultType, OptionType, VariantType))
        inner = {name: lifting(case_ty) for name, case_ty in cases}
        if ty._tagged():
            if not any(inner.values()):
                return None

            def tagged(value: Variant) -> Variant:
                convert = inner[value.tag]
                return Variant(value.tag, convert(value.payload) if convert else value.payload)

            return tagged
        # Untagged: the value's class tells the case (a unit case is None).
        # A case holding an untagged variant with a unit case matches any class: it goes last.
        tests = sorted(
            ((name, _classes(case_ty), inner[name]) for name, case_ty in cases),
            key=lambda test: object in test[1],
        )

        def bare(value: Any) -> Variant:
            for name, classes, convert in tests:
                if isinstance(value, classes):
                    return Variant(name, convert(value) if convert else value)
            raise TypeError(f"{value!r} matches no case of {[name for name, _, _ in tests]}")

        return bare
    if isinstance(ty, ListType):
        element = lifting(ty.element)
        return None if element is None else (lambda value: [element(item) for item in value])
    if isinstance(ty, TupleType):
        parts = [lifting(part) for part in ty.elements]
        if not any(parts):
            return None
        return lambda value: tuple(c(v) if c else v for c, v in zip(parts, value, strict=True))
    if isinstance(ty, RecordType):
        fields = [(name, lifting(field_ty)) for name, field_ty in ty.fields]
        return lambda value: {
            name: convert(getattr(value, name)) if convert else getattr(value, name)
            for name, convert in fields
        }
    return None
