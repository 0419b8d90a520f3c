"""The engine's changes to a model (decoders/preparation.py): each one recorded, made once, on the
model alone, and undone to the model as transformers built it."""

import copy

import pytest
import torch

from decoders import Engine
from decoders.draft import DraftTree
from decoders.invariant import NAME
from decoders.preparation import ATTRIBUTE, AttentionSwitched, AttributeSet, HookAdded, prepare

from ..conftest import make_tiny_model

PROMPT = [(37 * i + 5) % 257 for i in range(12)]


def fingerprint(model: torch.nn.Module) -> dict:
    """Per module: its own attributes (the class's not included), its hooks, its forward; and the
    model's config."""
    found: dict = {"config": copy.deepcopy(vars(model.config))}
    for name, module in model.named_modules():
        hooks = [getattr(module, table) for table in vars(module) if table.startswith("_") and table.endswith("_hooks")]
        found[name] = (sorted(vars(module)), [list(table.items()) for table in hooks], vars(module).get("forward"))
    return found


def run_engine(model: torch.nn.Module) -> list[torch.Tensor]:
    """Logits of a prefill, steps, a chain and a tree through a new engine over `model`."""
    engine = Engine(model)
    session = engine.prefill(PROMPT)
    rows = [session.next_logits]
    rows += [engine.extend(session, [t]) for t in (3, 4)]
    rows.append(engine.extend(engine.fork(session), [5, 6, 7]))
    rows.append(engine.verify(engine.fork(session), 8, DraftTree.from_paths([[9, 10], [11]])))
    return rows


@torch.inference_mode()
def logits(model: torch.nn.Module) -> torch.Tensor:
    return model(input_ids=torch.tensor([PROMPT])).logits  # [1, len(PROMPT), vocab]


def test_undo_gives_back_the_model_transformers_built(byte_tokenizer):
    model = make_tiny_model(len(byte_tokenizer), seed=3)
    never = copy.deepcopy(model)  # never prepared
    before = fingerprint(model)
    engine = Engine(model)
    first = run_engine(model)
    assert engine.exact and model.config._attn_implementation == NAME and ATTRIBUTE in vars(model)
    engine.preparation.undo()
    assert fingerprint(model) == before == fingerprint(never)
    assert torch.equal(logits(model), logits(never))
    assert model.config._attn_implementation == "sdpa" and all("forward" not in vars(m) for m in model.modules())
    with pytest.raises(RuntimeError, match="undone"):
        engine.prefill(PROMPT)
    engine.preparation.undo()  # twice: nothing more to do
    # Prepared again from scratch: the engine's output is the first engine's, and a never prepared copy's.
    assert prepare(model) is not engine.preparation
    again, fresh = run_engine(model), run_engine(never)
    assert all(torch.equal(a, b) and torch.equal(a, c) for a, b, c in zip(first, again, fresh))


def test_each_change_is_recorded_once_however_often_the_model_is_prepared(byte_tokenizer):
    model = make_tiny_model(len(byte_tokenizer), seed=4)
    preparation = prepare(model)
    assert prepare(model) is preparation and Engine(model).preparation is preparation and Engine(model).preparation is preparation
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    layers = list(model.model.layers)
    kinds = [type(c) for c in preparation.changes]
    assert kinds.count(AttentionSwitched) == 1 and kinds.count(HookAdded) == len(layers) == preparation.interruptible
    assert kinds.count(AttributeSet) == 1 + 2 * len(linears)  # the preparation itself; each layer's route and forward
    assert all(len(layer._forward_pre_hooks) == 1 for layer in layers)  # one check per layer, not one per engine
    assert {(c.target, c.name) for c in preparation.changes if isinstance(c, AttributeSet)} >= {(model, ATTRIBUTE)}
    # Rerouting records nothing new: undo still goes back to the class's forward.
    rerouted = prepare(model, emulated=True)
    assert rerouted is preparation and preparation.route.upcast_wide and len(preparation.changes) == len(kinds)
    assert all(vars(m)["_guidecode_route"] is preparation.route for m in linears)
    preparation.undo()
    assert all(not vars(m).keys() & {"forward", "_guidecode_route"} for m in linears) and ATTRIBUTE not in vars(model)


def test_nothing_outside_the_model_changes(byte_tokenizer):
    linear_forward, hooks = torch.nn.Linear.forward, torch.nn.modules.module
    other = make_tiny_model(len(byte_tokenizer), seed=5)
    before = fingerprint(other)
    model = make_tiny_model(len(byte_tokenizer), seed=6)
    run_engine(model)
    assert torch.nn.Linear.forward is linear_forward
    assert not hooks._global_forward_hooks and not hooks._global_forward_pre_hooks
    assert fingerprint(other) == before and other.config._attn_implementation == "sdpa"


def test_a_deep_copy_carries_its_own_preparation(byte_tokenizer):
    model = make_tiny_model(len(byte_tokenizer), seed=7)
    preparation = Engine(model).preparation
    twin = copy.deepcopy(model)
    own = prepare(twin)
    assert own is not preparation and own.model is twin
    twin_modules = {id(m) for m in twin.modules()}
    targets = [c.target if isinstance(c, AttributeSet) else c.model if isinstance(c, AttentionSwitched) else c.module for c in own.changes]
    assert all(id(t) in twin_modules for t in targets)
    assert all(list(layer._forward_pre_hooks.values()) == [own.cancellation] for layer in twin.model.layers)
    own.undo()  # gives the copy back; the original stays prepared
    assert twin.config._attn_implementation == "sdpa" and not any(m._forward_pre_hooks for m in twin.modules())
    assert model.config._attn_implementation == NAME and all(len(layer._forward_pre_hooks) == 1 for layer in model.model.layers)
    assert not preparation.undone and run_engine(model)


def test_a_preparation_that_fails_half_way_leaves_the_model_as_it_was(byte_tokenizer, monkeypatch):
    from decoders.preparation import Preparation

    model = make_tiny_model(len(byte_tokenizer), seed=8)
    before = fingerprint(model)

    def fail(self):
        raise RuntimeError("no hooks today")

    monkeypatch.setattr(Preparation, "_hook_decoder_layers", fail)
    with pytest.raises(RuntimeError, match="no hooks today"):
        prepare(model)
    assert fingerprint(model) == before
