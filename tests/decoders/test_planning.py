"""Planning search (decoders/planning.py) on the tiny random-weight model, with rewards written here."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pytest
import torch

from decoders import CancelFlag, Engine, Plugins, StopRules, TokenSetGuide, generate
from decoders.guides import Guide, best_allowed
from decoders.planning import PlanningConfig, Scored, _idle_steps, _layout, _spells, plan
from decoders.sampling import SamplingConfig

PROMPT = "def f(x):\n    return"
STOP = StopRules(max_new_tokens=12)


def ids(tokenizer, text):
    return tokenizer(text)["input_ids"]


def search(model, tokenizer, reward, config=PlanningConfig(rollouts=8), **kwargs):
    engine = Engine(model)
    session = engine.prefill(ids(tokenizer, PROMPT))
    return engine, session, plan(engine, session, tokenizer, kwargs.pop("stop", STOP), reward, config, **kwargs)


def greedy_text(model, tokenizer, stop=STOP, guide=None) -> str:
    engine = Engine(model)
    return generate(engine, engine.prefill(ids(tokenizer, PROMPT)), tokenizer, Plugins(stop=stop, guide=guide)).text


class Counting:
    """A reward that records what it was asked to score."""

    def __init__(self, score):
        self.score, self.asked = score, []

    def __call__(self, text: str) -> Scored:
        self.asked.append(text)
        value = self.score(text)
        return Scored(value, value >= 1.0)


def test_the_first_rollout_is_greedy_and_wins_ties(tiny_model, byte_tokenizer):
    reward = Counting(lambda text: 0.0)
    _, _, result = search(tiny_model, byte_tokenizer, reward)
    assert result.programs[0].text == greedy_text(tiny_model, byte_tokenizer) and result.programs[0].rollout == 1
    assert result.best is result.programs[0]  # nothing beat it, so greedy's program stands
    assert result.stopped == "rollouts" and result.rollouts == 8
    # every rollout's own tokens count: more than the first program's, at most 8 rollouts' worth
    assert len(result.programs[0].tokens) < result.generated <= 8 * STOP.max_new_tokens
    assert len(reward.asked) == len(set(reward.asked)) == len(result.programs)  # each program run once


def test_a_solved_first_rollout_stops_the_search(tiny_model, byte_tokenizer):
    target = greedy_text(tiny_model, byte_tokenizer)
    _, _, result = search(tiny_model, byte_tokenizer, Counting(lambda text: float(text == target)))
    assert (result.stopped, result.rollouts, result.best.text) == ("solved", 1, target)
    assert result.generated == len(result.best.tokens)  # one rollout, from the root


def test_it_finds_a_program_greedy_misses(tiny_model, byte_tokenizer):
    engine = Engine(tiny_model)
    session = engine.prefill(ids(byte_tokenizer, PROMPT))
    second = byte_tokenizer.decode(best_allowed(session.next_logits, None, 2)[1])  # the model's runner-up first token
    reward = Counting(lambda text: 1.0 if text.startswith(second) else 0.1)
    _, _, result = search(tiny_model, byte_tokenizer, reward)
    assert not greedy_text(tiny_model, byte_tokenizer).startswith(second)
    assert result.stopped == "solved" and result.best.text.startswith(second) and result.best.rollout > 1


@dataclass(frozen=True)
class ForcedStart(Guide):
    """Only `first` may come for the first `forced` steps, then any of `rest`: the model is sure
    of the start, so the likeliest way off greedy's path lies deeper."""

    first: TokenSetGuide
    rest: TokenSetGuide
    forced: int

    def allowed(self):
        return (self.first if self.forced > 0 else self.rest).allowed()

    def advance(self, token):
        return replace(self, forced=self.forced - 1)


def test_the_second_rollout_leaves_greedys_path_where_the_model_most_likely_would(tiny_model, byte_tokenizer):
    letters = TokenSetGuide.of_characters(byte_tokenizer, "abcdefghij")  # no alternative spells greedy's text again
    guide = ForcedStart(TokenSetGuide.of_characters(byte_tokenizer, "a"), letters, forced=4)
    engine = Engine(tiny_model)
    steps = []
    greedy = generate(engine, engine.prefill(ids(byte_tokenizer, PROMPT)), byte_tokenizer, Plugins(stop=STOP, guide=guide, on_step=steps.append))
    top = [torch.softmax(step.float(), -1).topk(2) for step in steps[: len(greedy.tokens)]]
    # Leaving at step i with the runner-up: greedy's tokens before i, then the runner-up.
    leave = [math.prod(float(t.values[0]) for t in top[:i]) * float(top[i].values[1]) for i in range(len(top))]
    where = max(range(len(top)), key=leave.__getitem__)
    _, _, result = search(tiny_model, byte_tokenizer, Counting(lambda text: 0.0), PlanningConfig(rollouts=2), guide=guide)
    assert greedy.text.startswith("aaaa") and where >= 4
    assert list(result.programs[1].tokens[: where + 1]) == greedy.tokens[:where] + [int(top[where].indices[1])]


def test_alternatives_that_spell_greedys_text_again_are_left_out():
    assert _layout("x + 1) if  y\n\n\n    return", mid_line=True) == "x+1)if  y\n    return"
    assert _layout(" (a, b)", mid_line=False) == " (a,b)"  # at a line's start, leading spaces are indentation
    assert _spells("))\n", ")") and _spells("+1", "+")  # another tokenization of the same text
    assert not _spells("numbers)", "num") and not _spells("if x", "i")  # a name cut short may end otherwise
    assert _idle_steps("", [" x", " #", " a", "\n", " y", " #", " b", "\n"]) == [False, False, False, False, False, False, True, True]


def test_rewards_back_up_and_the_budget_holds(tiny_model, byte_tokenizer):
    # A reward the search can only climb: the count of one letter in the program.
    reward = Counting(lambda text: text.count("a") / 12)
    _, _, result = search(tiny_model, byte_tokenizer, reward, PlanningConfig(rollouts=6, top_k=4))
    assert result.rollouts <= 6 and result.best.scored.score == max(p.scored.score for p in result.programs)
    assert result.best.scored.score >= result.programs[0].scored.score


def test_the_session_is_left_as_it_was(tiny_model, byte_tokenizer):
    engine, session, _ = search(tiny_model, byte_tokenizer, Counting(lambda text: 0.0))
    assert len(session.tokens) == len(ids(byte_tokenizer, PROMPT))
    assert session.cache.layers[0].keys.shape[-2] == len(session.tokens)


def test_every_program_obeys_the_guide_and_the_stop_rules(tiny_model, byte_tokenizer):
    guide = TokenSetGuide.of_characters(byte_tokenizer, "xyz( )\n")
    stop = StopRules(max_new_tokens=10, stop_strings=("\n",))
    _, _, result = search(tiny_model, byte_tokenizer, Counting(lambda text: text.count("z") / 10), guide=guide, stop=stop)
    assert result.programs[0].text == greedy_text(tiny_model, byte_tokenizer, stop, guide)
    for program in result.programs:
        assert set(program.text) <= set("xyz( )") and len(program.tokens) <= 10


def test_a_cancelled_search_returns_what_it_has(tiny_model, byte_tokenizer):
    cancel = CancelFlag()
    cancel.set()
    _, _, result = search(tiny_model, byte_tokenizer, Counting(lambda text: 0.0), cancel=cancel)
    assert (result.best, result.stopped, result.rollouts) == (None, "cancelled", 0)
    later = CancelFlag()
    progress = []

    def on_rollout(done, best):
        progress.append((done, best.text))
        if done == 2:
            later.set()

    _, _, result = search(tiny_model, byte_tokenizer, Counting(lambda text: 0.0), cancel=later, on_rollout=on_rollout)
    assert result.stopped == "cancelled" and result.rollouts == 2 and result.best is not None
    assert progress[0][0] == 1


def test_sampled_rollouts_start_from_greedy_and_repeat_with_their_seed(tiny_model, byte_tokenizer):
    sampled = PlanningConfig(rollouts=6, temperature=1.0, seed=3)
    texts = {}
    for name, config in {
        "greedy": PlanningConfig(rollouts=6, temperature=0.0),
        "sampled": sampled,
        "again": sampled,
        "other seed": replace(sampled, seed=4),
    }.items():
        _, _, result = search(tiny_model, byte_tokenizer, Counting(lambda text: 0.0), config)
        assert result.programs[0].text == greedy_text(tiny_model, byte_tokenizer)  # the first rollout is greedy's either way
        texts[name] = [p.text for p in result.programs]
    assert texts["sampled"] == texts["again"]
    assert texts["sampled"] != texts["greedy"] and texts["sampled"] != texts["other seed"]


def test_sampled_rollouts_obey_the_guide_and_the_stop_rules(tiny_model, byte_tokenizer):
    guide = TokenSetGuide.of_characters(byte_tokenizer, "xyz( )\n")
    stop = StopRules(max_new_tokens=10, stop_strings=("\n",))
    config = PlanningConfig(rollouts=8, temperature=1.5)
    _, _, result = search(tiny_model, byte_tokenizer, Counting(lambda text: text.count("z") / 10), config, guide=guide, stop=stop)
    assert len(result.programs) > 1
    for program in result.programs:
        assert set(program.text) <= set("xyz( )") and len(program.tokens) <= 10


def test_a_rollouts_sampling_is_greedy_first_then_seeded():
    config = PlanningConfig(temperature=0.8, top_p=0.95, seed=7)
    assert config.rollout_sampling(1).greedy and PlanningConfig(temperature=0.0).rollout_sampling(5).greedy
    assert PlanningConfig().rollout_sampling(2) == SamplingConfig(0.8, 0.95, PlanningConfig().rollout_sampling(2).seed)  # sampled by default
    second, third = config.rollout_sampling(2), config.rollout_sampling(3)
    assert (second.temperature, second.top_p) == (0.8, 0.95) and second.seed != third.seed
    assert second == PlanningConfig(temperature=0.8, top_p=0.95, seed=7).rollout_sampling(2)


@pytest.mark.parametrize(
    "field, value, message",
    [("rollouts", 0, "at least 1 rollout"), ("top_k", 0, "top_k"), ("seconds", 0.0, "positive"), ("temperature", -0.5, "temperature"), ("top_p", 0.0, "top_p")],
)
def test_bad_budgets_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        PlanningConfig(**{field: value})
