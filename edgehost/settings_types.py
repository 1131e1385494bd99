"""The value types of settings tables, and their base: what the core's tables (edgehost/settings.py)
and a plugin's own (`edgehost_settings_sections`) are written with. Each type's `description` words
the one-line error for a bad value."""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

import msgspec

MODES = ("control-plane", "runner", "dev")

PositiveInt = Annotated[int, msgspec.Meta(ge=1, description="a positive integer")]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0, description="an integer >= 0")]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0, description="a positive number")]
# Granian takes these as native integers (connections; milliseconds): bounded, so no value can
# overflow them at start-up.
Connections = Annotated[int, msgspec.Meta(ge=1, le=1_000_000, description="an integer from 1 to 1000000")]
Deadline = Annotated[
    float, msgspec.Meta(gt=0, le=3600, description="a number of seconds above 0 and at most 3600")
]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535, description="a port number from 0 to 65535")]
Percent = Annotated[float, msgspec.Meta(gt=0, le=100, description="a percentage above 0 and at most 100")]
Mode = Annotated[
    Literal["control-plane", "runner", "dev"], msgspec.Meta(description="one of " + ", ".join(MODES))
]


class SettingsSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A settings table: unknown keys are errors, so a typo never passes silently.

    A plugin's own table subclasses this (with `frozen=True`), annotating each key with its type
    and default; `Annotated[..., msgspec.Meta(description=...)]` words the error for a bad value.
    """


S = TypeVar("S", bound=SettingsSection)
