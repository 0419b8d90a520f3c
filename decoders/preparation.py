"""What the engine changes in a model, made in one place and recorded so that it can be given back.

`prepare(model)` makes every change decoders/engine.py needs and returns a `Preparation` listing
each one (the object, what changed, what it was before); `undo()` restores them, newest first. All
of them are on the model passed in, or its modules and config:

- attention: the model's attention implementation becomes decoders/invariant.py's exact attention
  (transformers' `set_attn_implementation`; undone by setting the one it had);
- linear layers: every nn.Linear gets `_guidecode_route`, its `LinearRoute`, and a `forward` of its
  own, on the instance, that computes through it (decoders/linear_route.py); the class is left
  alone;
- cancellation: a forward pre-hook on every *DecoderLayer raises `Interrupted` while the cancel
  flag of the pass in flight is set (`LayerCancellation`);
- the preparation itself, as `_guidecode_preparation` on the model: a second `prepare` returns it,
  and a deep copy of the model carries its own copy, which refers to the copy's modules.

Nothing else is changed: no class, no library function, no global hook. The one process-wide
effect is that the exact attention is registered, under its own name `guidecode_exact`, in
transformers' AttentionInterface and AttentionMaskInterface: an added entry that only a model
asking for that name uses. It stays registered after `undo()`.

Some of the engine's checks are slow (decoders/linear_route.py's row check: seconds on a real
model), so their answers are kept with the preparation, once per dtype and device (`decided`): a
model copied and cast to another dtype decides anew.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MethodType
from typing import Any, TypeVar

import torch

from .interrupted import Interrupted
from .invariant import NAME as EXACT_ATTENTION
from .invariant import register_exact_attention
from .linear_route import ROUTE, LinearRoute, decide_route, routed_forward

ATTRIBUTE = "_guidecode_preparation"
T = TypeVar("T")


@dataclass(frozen=True)
class AttributeSet:
    """`target.<name>` set on the instance; before, it held `old`, or nothing of its own
    (`existed` False: the class's attribute showed through)."""

    target: Any
    name: str
    existed: bool
    old: object = None

    def undo(self) -> None:
        if self.existed:
            setattr(self.target, self.name, self.old)
        else:
            delattr(self.target, self.name)


@dataclass(frozen=True)
class AttentionSwitched:
    """`model`'s attention implementation switched from `old` (a name transformers knows)."""

    model: Any  # a transformers PreTrainedModel
    old: str

    def undo(self) -> None:
        self.model.set_attn_implementation(self.old)


@dataclass(frozen=True)
class HookAdded:
    """A forward pre-hook added to `module`, under `key` in its table of them. The key, not the
    handle: a deep copy of the module keeps the keys, while a copied handle would still point at
    the original's table."""

    module: torch.nn.Module
    key: int

    def undo(self) -> None:
        self.module._forward_pre_hooks.pop(self.key, None)


Change = AttributeSet | AttentionSwitched | HookAdded


class LayerCancellation:
    """The hook before every decoder layer: raises Interrupted once `flag` is set. The engine sets
    `flag` for the forward pass it runs and clears it after, one pass at a time per model."""

    def __init__(self) -> None:
        self.flag: threading.Event | None = None

    def __call__(self, module: torch.nn.Module, args: tuple) -> None:
        if self.flag is not None and self.flag.is_set():
            raise Interrupted()


@dataclass(eq=False)
class Preparation:
    """The changes `prepare` made to `model`, oldest first."""

    model: torch.nn.Module = field(repr=False)
    route: LinearRoute  # what the model's linear layers compute through
    exact_attention: bool = False  # False: the model does not take pluggable attention (kept as it was)
    cancellation: LayerCancellation = field(default_factory=LayerCancellation, repr=False)
    interruptible: int = 0  # decoder layers that check `cancellation` (0: cancelled between passes only)
    changes: list[Change] = field(default_factory=list, repr=False)
    undone: bool = False
    # Answers of the engine's slow checks, by (question, dtype, device).
    answers: dict[tuple[str, torch.dtype, torch.device], Any] = field(default_factory=dict, repr=False)

    def undo(self) -> None:
        """Give the model back as it was before `prepare`: the attention implementation it had,
        the class's forward on every linear layer, no hook of ours, no attribute of ours. An engine
        over this preparation refuses to run afterwards; a later `prepare` starts anew."""
        if self.undone:
            return
        for change in reversed(self.changes):
            change.undo()
        self.undone = True

    def decided(self, question: str, decide: Callable[[], T]) -> T:
        """`decide()`, run once per `question` and the model's current dtype and device."""
        weight = next(self.model.parameters())
        key = (question, weight.dtype, weight.device)
        if key not in self.answers:
            self.answers[key] = decide()
        return self.answers[key]

    def _set(self, target: Any, name: str, value: object) -> None:
        """Set `target.<name>`, recording what it held unless an earlier change to it is recorded
        (undo must go back to the value before the first)."""
        if not any(isinstance(c, AttributeSet) and c.target is target and c.name == name for c in self.changes):
            self.changes.append(AttributeSet(target, name, name in vars(target), vars(target).get(name)))
        setattr(target, name, value)

    def _switch_attention(self) -> None:
        model: Any = self.model
        config = getattr(model, "config", None)
        if config is None or not getattr(model, "_supports_attention_backend", False):
            return
        register_exact_attention()
        if (old := config._attn_implementation) != EXACT_ATTENTION:
            model.set_attn_implementation(EXACT_ATTENTION)
            self.changes.append(AttentionSwitched(model, old))
        self.exact_attention = config._attn_implementation == EXACT_ATTENTION

    def _route_linears(self, route: LinearRoute) -> None:
        """Send every nn.Linear through `route`: its forward is replaced rather than hooked
        around, since the library's product must not run."""
        self.route = route
        for module in self.model.modules():
            if isinstance(module, torch.nn.Linear):
                self._set(module, ROUTE, route)
                self._set(module, "forward", MethodType(routed_forward, module))

    def _hook_decoder_layers(self) -> None:
        # transformers names its blocks *DecoderLayer (Llama, Qwen2, Mistral, Gemma, ...); a
        # model without them is still cancelled between steps, only not within one.
        for module in self.model.modules():
            if type(module).__name__.endswith("DecoderLayer"):
                handle = module.register_forward_pre_hook(self.cancellation)
                self.changes.append(HookAdded(module, handle.id))
                self.interruptible += 1


def prepare(model: torch.nn.Module, emulated: bool | None = None) -> Preparation:
    """Make the changes decoders/engine.py needs in `model` (see the module's docstring) and return
    them. A model already prepared gets its existing preparation back, with its linear layers
    rerouted only when `emulated` is given: it overrides the CPU's answer to whether bf16 is
    emulated here (decoders/emulated_bf16.py)."""
    preparation = vars(model).get(ATTRIBUTE)
    if preparation is None:
        preparation = Preparation(model, decide_route(model, emulated))
        try:
            preparation._set(model, ATTRIBUTE, preparation)
            preparation._switch_attention()
            preparation._route_linears(preparation.route)
            preparation._hook_decoder_layers()
        except BaseException:
            preparation.undo()  # no half-prepared model
            raise
    elif emulated is not None:
        preparation._route_linears(decide_route(model, emulated))
    assert preparation.model is model and not preparation.undone, "a preparation is kept only on the model it prepared"
    return preparation
