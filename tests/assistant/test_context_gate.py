"""The gate that gives a completion repository context only where its first line was unsure."""

from __future__ import annotations

import math

import pytest
import torch

from assistant.context.gate import Held, UnsureLine


def step(top: float, vocab: int = 8) -> torch.Tensor:
    """Guided logits ([vocab]) whose most likely token has probability `top`, one token masked out."""
    rest = (1 - top) / (vocab - 2)
    logits = torch.tensor([math.log(top)] + [math.log(rest)] * (vocab - 2) + [-math.inf])
    return logits.to(torch.bfloat16)


def written(gate: UnsureLine, pieces: list[tuple[str, float]]) -> tuple[str, int | None]:
    """Run the gate as the loop does, one token at a time; the text up to a stop and the stop."""
    text = ""
    for piece, top in pieces:
        gate.observe(step(top))
        text += piece
        if (cut := gate.stop(text)) is not None:
            return text, cut
    return text, None


def test_the_first_unsure_step_of_the_first_line_stops_the_completion():
    gate = UnsureLine(0.3)
    text, cut = written(gate, [("return", 0.9), (" area", 0.5), ("(w", 0.2), (", h", 0.9)])
    assert gate.unsure and not gate.settled
    assert (text, cut) == ("return area(w", len("return area(w"))


def test_steps_after_the_first_line_do_not_count():
    gate = UnsureLine(0.3)
    text, cut = written(gate, [("x = 1", 0.9), ("\n", 0.8), ("    y", 0.01), (" = 2", 0.01)])
    assert cut is None and text == "x = 1\n    y = 2"
    assert gate.settled and not gate.unsure


def test_the_token_that_ends_the_line_is_part_of_it():
    gate = UnsureLine(0.3)
    _, cut = written(gate, [("x = 1", 0.9), (")\n", 0.1)])
    assert cut is not None and gate.unsure


def test_blank_lines_before_the_first_line_are_part_of_it():
    """A completion that starts on the next line (after an accepted one): its newline and
    indentation are steps of the line it writes."""
    gate = UnsureLine(0.3)
    _, cut = written(gate, [("\n", 0.9), ("    ", 0.9), ("return", 0.2)])
    assert cut is not None and gate.unsure


def test_a_step_at_the_threshold_is_sure():
    gate = UnsureLine(0.5)
    gate.observe(torch.tensor([0.0, 0.0, -math.inf]))  # two equally likely tokens: exactly 0.5
    assert gate.stop("pass") is None and not gate.unsure


@pytest.mark.parametrize("threshold", [0, -0.1, 1.5])
def test_a_threshold_outside_the_unit_interval_is_refused(threshold):
    with pytest.raises(ValueError, match="confidence threshold"):
        UnsureLine(threshold)


def test_streamed_text_waits_for_the_first_line_and_goes_on_after_it():
    gate, shown = UnsureLine(0.3), []
    held = Held(gate, shown.append)
    text = ""
    for piece in ["x", " = 1", "\n", "y"]:
        gate.observe(step(0.9))
        text += piece
        gate.stop(text)
        held(piece)
        if text == "x = 1\n":
            assert shown == []  # the line is written, but the gate has not seen a step after it
    assert "".join(shown) == "x = 1\ny"


def test_streamed_text_of_an_unsure_line_is_never_shown():
    gate, shown = UnsureLine(0.3), []
    held = Held(gate, shown.append)
    text = ""
    for piece, top in [("x", 0.9), (" = ", 0.1)]:
        gate.observe(step(top))
        text += piece
        gate.stop(text)
        held(piece)
    held.flush()
    assert shown == [] and gate.unsure


def test_a_completion_that_ends_within_its_first_line_is_shown_at_the_end():
    gate, shown = UnsureLine(0.3), []
    held = Held(gate, shown.append)
    gate.observe(step(0.9))
    gate.stop("pass")
    held("pass")
    assert shown == []
    held.flush()
    assert shown == ["pass"]


def test_tokens_a_reranker_wrote_after_its_paused_step_are_not_counted_and_the_next_one_is_aligned():
    """A whole name written at once after one step: its later tokens have no step of their own."""
    gate = UnsureLine(0.3)
    gate.observe(step(0.9))  # the paused step: the name's first token
    assert gate.stop("self.rad") is None
    assert gate.stop("self.radi") is None and gate.stop("self.radius") is None  # written with it, no step
    gate.observe(step(0.1))  # the next token's own step
    assert gate.stop("self.radius *") == len("self.radius *") and gate.unsure
