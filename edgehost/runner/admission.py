"""The ingress's one admission step: the `Admission` component, then each `edgehost_admit` plugin.

All tenant policy (the daily CPU block, concurrency, rate windows) is the `Admission` component's,
which the built-in `quotas` plugin provides (`edgehost_admission`): a plugin that replaces it
replaces all of it. `edgehost_admit` implementations then add policies of their own (geo-blocking,
API keys) and are asked in pluggy's order until one refuses, which is what pluggy's `firstresult`
does, but with each plugin's failures reported under its own name (docs/plugins.md, "When a
plugin fails on the request path").
"""

from __future__ import annotations

from collections.abc import Callable

from pluggy import HookRelay

from edgehost.contracts import Admission, Invocation, Rejection
from edgehost.http_rules import FINAL_STATUS
from edgehost.plugin_manager import per_request_calls
from edgehost.plugin_names import plugin_name


class PluginFailed(Exception):
    """A plugin's call on the request path raised, or answered what it may not; answered 500
    `plugin_failed`."""

    def __init__(self, plugin: str, hook: str) -> None:
        super().__init__(f"the runner's plugin {plugin!r} failed in {hook}")
        self.plugin = plugin
        self.hook = hook


def plugin_of(component: object) -> str:
    """The plugin that provided a component (route table, admission): the name its module registers under."""
    return plugin_name(type(component).__module__)


class AdmissionStep:
    """`admit` decides whether an invocation may run; `release` gives back what `admit` took."""

    def __init__(self, hook: HookRelay, admission: Admission | None) -> None:
        self.admission = admission
        self.plugin = plugin_of(admission)
        self._admit_hooks = per_request_calls(hook.edgehost_admit)

    def admit(self, inv: Invocation) -> Rejection | None:
        """The first refusal, or None to run the guest. Sets `inv.admitted` once the `Admission`
        component was asked, so that the caller releases it (`release`) whatever happens after.
        Raises PluginFailed if a call raised or refused with a status outside 200..599."""
        admission = self.admission
        if admission is not None:
            inv.admitted = True
            rejection = _asked(self.plugin, "edgehost_admission", admission.admit, inv)
            if rejection is not None:
                return rejection
        for plugin, admit in self._admit_hooks:
            rejection = _asked(plugin, "edgehost_admit", admit, inv)
            if rejection is not None:
                return rejection
        return None

    def release(self, inv: Invocation) -> None:
        """Once per admitted invocation (`inv.admitted`); raises what the component raises."""
        if inv.admitted:
            inv.admitted = False
            self.admission.release(inv)  # type: ignore[union-attr]  # admitted: there is one


def _asked(
    plugin: str, hook: str, admit: Callable[[Invocation], Rejection | None], inv: Invocation
) -> Rejection | None:
    """One admission call's answer; PluginFailed if it raised or refused with a non-final status."""
    try:
        rejection = admit(inv)
    except Exception as exc:
        raise PluginFailed(plugin, hook) from exc
    if rejection is not None and rejection.status not in FINAL_STATUS:
        raise PluginFailed(plugin, hook)
    return rejection
