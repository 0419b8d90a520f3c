import torch

from decoders.guides import AllOf, Guide, TokenSetGuide, apply_mask
from decoders.sampling import SamplingConfig, probabilities, top_p_filter
from decoders.stopping import StopRules


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    kept = torch.isfinite(top_p_filter(logits, 0.8))
    assert kept.tolist() == [True, True, False, False]
    assert torch.isfinite(top_p_filter(logits, 0.81)).tolist() == [True, True, True, False]


def test_filters_never_modify_logits_in_place():
    logits = torch.randn(16)
    before = logits.clone()
    top_p_filter(logits, 0.5)
    apply_mask(logits, TokenSetGuide.of(16, [1, 2]).allowed())
    probabilities(logits, SamplingConfig(temperature=0.7, top_p=0.9))
    assert torch.equal(logits, before)


def test_all_of_intersects_and_ignores_unconstrained():
    a, b = TokenSetGuide.of(10, [1, 2, 3]), TokenSetGuide.of(10, [2, 3, 4])

    class Free(Guide):
        def allowed(self):
            return None

        def advance(self, token):
            return self

    assert AllOf((a, Free(), b)).allowed().nonzero().flatten().tolist() == [2, 3]
    assert AllOf((Free(),)).allowed() is None


def test_pending_holds_back_a_possible_stop_string_start():
    rules = StopRules(stop_strings=("\ndef ",))
    assert rules.pending("x = 1\nde") == 3
    assert rules.pending("x = 1") == 0
    assert rules.cut("a\nb\ndef g") == 3
