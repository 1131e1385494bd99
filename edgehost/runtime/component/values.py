"""Component values between host functions and wasmtime's C API, with one converter per type.

Host functions speak one tagged form for every `result`, `option` and `variant`, nesting
included: `ok(x)`, `err(e)`, `some(x)`, `NONE`, `case(tag, x)` (wasmtime-py's `Variant`); a
record is a dict, an enum a str, a `list<u8>` bytes, a returned resource an `Own` (state.py), a
received one the address of its handle (handles.py). wasmtime-py's own conversion instead
picks a bare value or a `Variant` per type depending on whether the cases overlap in Python
class (`result<u64, stream-error>` travels as a bare `int` or `None`, `result<_, stream-error>`
as `Variant("ok")`), and walks the type through the C API on every call (most of a request's
host cost). `reader(ty)`
and `writer(ty)` build, once per function type of a component, converters straight between the
tagged form and `wasmtime_component_val_t` for that exact type; `list<u8>` (bodies) is copied as
one strided slice, not one Python object per byte.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime.component import (
    U8,
    BorrowType,
    EnumType,
    ListType,
    OptionType,
    OwnType,
    RecordType,
    ResultType,
    String,
    TupleType,
    ValType,
    Variant,
    VariantType,
)

from ..errors import InvokeError
from .handles import new_handle, rep_of
from .state import current_state

Val = ffi.wasmtime_component_val_t
Reader = Callable[[Any], Any]  # a wasmtime_component_val_t (ownership taken) -> the tagged form
Writer = Callable[[int, Any, Any], None]  # (store context address, value, wasmtime_component_val_t to fill)
NONE = Variant("none")
_STRIDE = ctypes.sizeof(Val)
_PAYLOAD = Val.of.offset
_U8 = ffi.WASMTIME_COMPONENT_U8.value
_BOOL = ffi.WASMTIME_COMPONENT_BOOL.value
_SCALARS = {  # wasmtime-py value type name -> (kind, union field)
    "Bool": (ffi.WASMTIME_COMPONENT_BOOL.value, "boolean"),
    "S8": (ffi.WASMTIME_COMPONENT_S8.value, "s8"),
    "U8": (_U8, "u8"),
    "S16": (ffi.WASMTIME_COMPONENT_S16.value, "s16"),
    "U16": (ffi.WASMTIME_COMPONENT_U16.value, "u16"),
    "S32": (ffi.WASMTIME_COMPONENT_S32.value, "s32"),
    "U32": (ffi.WASMTIME_COMPONENT_U32.value, "u32"),
    "S64": (ffi.WASMTIME_COMPONENT_S64.value, "s64"),
    "U64": (ffi.WASMTIME_COMPONENT_U64.value, "u64"),
    "F32": (ffi.WASMTIME_COMPONENT_F32.value, "f32"),
    "F64": (ffi.WASMTIME_COMPONENT_F64.value, "f64"),
}


def ok(value: Any = None) -> Variant:
    return Variant("ok", value)


def err(value: Any = None) -> Variant:
    return Variant("err", value)


def some(value: Any) -> Variant:
    return Variant("some", value)


def case(tag: str, value: Any = None) -> Variant:
    return Variant(tag, value)


def _cases(ty: ValType) -> dict[str, ValType | None]:
    if isinstance(ty, ResultType):
        return {"ok": ty.ok, "err": ty.err}
    if isinstance(ty, OptionType):
        return {"none": None, "some": ty.payload}
    assert isinstance(ty, VariantType)
    return dict(ty.cases)


def _boxed_reader(ty: ValType | None) -> Callable[[Any], Any]:
    """Reads (and frees) a payload behind a nullable `wasmtime_component_val_t *`."""
    if ty is None:
        return lambda pointer: None
    read = reader(ty)

    def boxed(pointer: Any) -> Any:
        value = read(pointer.contents)
        pointer.contents.kind = _BOOL  # moved out: nothing left for the delete to free
        ffi.wasmtime_component_val_delete(pointer)
        return value

    return boxed


def _boxed_writer(ty: ValType | None) -> Callable[[int, Any], Any]:
    """Writes a payload into a new `wasmtime_component_val_t *` (None for a unit case)."""
    if ty is None:
        return lambda context, value: None
    write = writer(ty)

    def boxed(context: int, value: Any) -> Any:
        raw = Val()
        write(context, value, raw)
        return ffi.wasmtime_component_val_new(ctypes.byref(raw))

    return boxed


def _read_bytes(c: Any) -> bytes:
    size = c.of.list.size
    data = ctypes.string_at(c.of.list.data, size * _STRIDE)[_PAYLOAD::_STRIDE] if size else b""
    ffi.wasmtime_component_vallist_delete(ctypes.byref(c.of.list))
    return data


def _write_bytes(context: int, value: bytes, c: Any) -> None:
    raw = ffi.wasmtime_component_vallist_t()
    ffi.wasmtime_component_vallist_new_uninit(raw, len(value))
    if value:
        buffer = bytearray(len(value) * _STRIDE)
        buffer[0::_STRIDE] = bytes([_U8]) * len(value)
        buffer[_PAYLOAD::_STRIDE] = value
        ctypes.memmove(raw.data, bytes(buffer), len(buffer))
    c.kind = ffi.WASMTIME_COMPONENT_LIST.value
    c.of.list = raw


def _list_reader(read: Reader) -> Reader:
    def read_list(c: Any) -> list[Any]:
        vec = c.of.list
        items = []
        for i in range(vec.size):
            item = vec.data[i]
            items.append(read(item))
            item.kind = _BOOL  # moved out: nothing left for the delete to free
        ffi.wasmtime_component_vallist_delete(ctypes.byref(vec))
        return items

    return read_list


def reader(ty: ValType) -> Reader:
    """The converter from a C value of type `ty` to the tagged form (module docstring)."""
    scalar = _SCALARS.get(type(ty).__name__)
    if scalar is not None:
        field = scalar[1]
        return lambda c: getattr(c.of, field)
    if isinstance(ty, (ResultType, OptionType, VariantType)):
        payloads = {name: _boxed_reader(case_ty) for name, case_ty in _cases(ty).items()}
        if isinstance(ty, ResultType):
            read_ok, read_err = payloads["ok"], payloads["err"]
            return lambda c: (
                Variant("ok", read_ok(c.of.result.val))
                if c.of.result.is_ok
                else Variant("err", read_err(c.of.result.val))
            )
        if isinstance(ty, OptionType):
            read_some = payloads["some"]
            return lambda c: Variant("some", read_some(c.of.option)) if c.of.option else NONE

        def read_variant(c: Any) -> Variant:
            tag = ffi.to_str(c.of.variant.discriminant)
            ffi.wasm_byte_vec_delete(ctypes.byref(c.of.variant.discriminant))
            return Variant(tag, payloads[tag](c.of.variant.val))

        return read_variant
    if isinstance(ty, ListType):
        if isinstance(ty.element, U8):
            return _read_bytes
        return _list_reader(reader(ty.element))
    if isinstance(ty, TupleType):
        return _tuple_reader([reader(part) for part in ty.elements])
    if isinstance(ty, RecordType):
        return _record_reader([(name, reader(field_ty)) for name, field_ty in ty.fields])
    if isinstance(ty, EnumType):

        def read_enum(c: Any) -> str:
            name = ffi.to_str(c.of.enumeration)
            ffi.wasm_byte_vec_delete(ctypes.byref(c.of.enumeration))
            return name

        return read_enum
    if isinstance(ty, BorrowType):
        return _read_borrow
    if isinstance(ty, OwnType):
        return _read_handle
    return ty.convert_from_c  # strings, chars, flags: wasmtime-py's conversion has no shape to pick


def _read_handle(c: Any) -> int:
    """The handle's address, taken out of the value (its new owner frees it: handles.rep_of)."""
    slot = ctypes.c_void_p.from_address(ctypes.addressof(c) + _PAYLOAD)
    address = int(slot.value or 0)
    slot.value = None
    return address


def _read_borrow(c: Any) -> int:
    """The rep of a lent (`borrow`) host resource, the borrow ended as it is read.

    wasmtime counts every borrow a host function receives and traps the guest ("borrow handles
    still remain at the end of the call") if one is still live when the call returns; turning
    it into its rep here ends it, whether or not the host function looks at the argument
    (`subscribe` on a stream, `http-error-code`). Component Model: lifting a `borrow`.
    """
    state = current_state()
    if state is None:
        raise InvokeError("trap", "a host function ran outside any invocation")
    return rep_of(state.context, _read_handle(c))


def _tuple_reader(parts: list[Reader]) -> Reader:
    def read_tuple(c: Any) -> tuple[Any, ...]:
        vec = c.of.tuple
        values = []
        for i, read in enumerate(parts):
            item = vec.data[i]
            values.append(read(item))
            item.kind = _BOOL
        ffi.wasmtime_component_valtuple_delete(ctypes.byref(vec))
        return tuple(values)

    return read_tuple


def _record_reader(fields: list[tuple[str, Reader]]) -> Reader:
    def read_record(c: Any) -> dict[str, Any]:
        vec = c.of.record
        values = {}
        for i, (name, read) in enumerate(fields):
            entry = vec.data[i]
            values[name] = read(entry.val)
            entry.val.kind = _BOOL
        ffi.wasmtime_component_valrecord_delete(ctypes.byref(vec))
        return values

    return read_record


def writer(ty: ValType) -> Writer:
    """The converter from the tagged form to a C value of type `ty` (module docstring)."""
    scalar = _SCALARS.get(type(ty).__name__)
    if scalar is not None:
        kind, field = scalar

        def write_scalar(context: int, value: Any, c: Any) -> None:
            c.kind = kind
            setattr(c.of, field, value)

        return write_scalar
    if isinstance(ty, (ResultType, OptionType, VariantType)):
        payloads = {name: _boxed_writer(case_ty) for name, case_ty in _cases(ty).items()}
        if isinstance(ty, ResultType):

            def write_result(context: int, value: Variant, c: Any) -> None:
                c.kind = ffi.WASMTIME_COMPONENT_RESULT.value
                c.of.result.is_ok = value.tag == "ok"
                c.of.result.val = payloads[value.tag](context, value.payload)

            return write_result
        if isinstance(ty, OptionType):
            write_some = payloads["some"]

            def write_option(context: int, value: Variant, c: Any) -> None:
                c.kind = ffi.WASMTIME_COMPONENT_OPTION.value
                c.of.option = write_some(context, value.payload) if value.tag == "some" else None

            return write_option

        def write_variant(context: int, value: Variant, c: Any) -> None:
            payload = payloads[value.tag](context, value.payload)
            c.kind = ffi.WASMTIME_COMPONENT_VARIANT.value
            c.of.variant.discriminant = ffi.str_to_capi(value.tag)
            c.of.variant.val = payload

        return write_variant
    if isinstance(ty, ListType):
        if isinstance(ty.element, U8):
            return _write_bytes
        return _list_writer(writer(ty.element))
    if isinstance(ty, TupleType):
        return _tuple_writer([writer(part) for part in ty.elements])
    if isinstance(ty, RecordType):
        return _record_writer([(name, writer(field_ty)) for name, field_ty in ty.fields])
    if isinstance(ty, EnumType):

        def write_enum(context: int, value: str, c: Any) -> None:
            c.kind = ffi.WASMTIME_COMPONENT_ENUM.value
            c.of.enumeration = ffi.str_to_capi(value)

        return write_enum
    if isinstance(ty, (OwnType, BorrowType)):
        return write_handle
    if isinstance(ty, String):
        return _write_string
    return _unsupported(ty)


def write_handle(context: int, value: Any, c: Any) -> None:
    """`value` is an `Own` (state.py): (rep, host type id)."""
    c.kind = ffi.WASMTIME_COMPONENT_RESOURCE.value
    ctypes.c_void_p.from_address(ctypes.addressof(c) + _PAYLOAD).value = new_handle(context, *value)


def _write_string(context: int, value: str, c: Any) -> None:
    c.kind = ffi.WASMTIME_COMPONENT_STRING.value
    c.of.string = ffi.str_to_capi(value)


def _unsupported(ty: ValType) -> Writer:
    """Results no host function here returns (chars, flags: only denied functions have them)."""

    def fail(context: int, value: Any, c: Any) -> None:
        raise TypeError(f"no host function returns a {type(ty).__name__}")

    return fail


def _list_writer(write: Writer) -> Writer:
    def write_list(context: int, value: list[Any], c: Any) -> None:
        raw = ffi.wasmtime_component_vallist_t()
        ffi.wasmtime_component_vallist_new_uninit(raw, len(value))
        for i, item in enumerate(value):
            write(context, item, raw.data[i])
        c.kind = ffi.WASMTIME_COMPONENT_LIST.value
        c.of.list = raw

    return write_list


def _tuple_writer(parts: list[Writer]) -> Writer:
    def write_tuple(context: int, value: tuple[Any, ...], c: Any) -> None:
        raw = ffi.wasmtime_component_valtuple_t()
        ffi.wasmtime_component_valtuple_new_uninit(raw, len(parts))
        for i, (write, item) in enumerate(zip(parts, value, strict=True)):
            write(context, item, raw.data[i])
        c.kind = ffi.WASMTIME_COMPONENT_TUPLE.value
        c.of.tuple = raw

    return write_tuple


def _record_writer(fields: list[tuple[str, Writer]]) -> Writer:
    def write_record(context: int, value: dict[str, Any], c: Any) -> None:
        raw = ffi.wasmtime_component_valrecord_t()
        ffi.wasmtime_component_valrecord_new_uninit(raw, len(fields))
        for i, (name, write) in enumerate(fields):
            write(context, value[name], raw.data[i].val)
            raw.data[i].name = ffi.str_to_capi(name)
        c.kind = ffi.WASMTIME_COMPONENT_RECORD.value
        c.of.record = raw

    return write_record
