"""Where AdaDec's lookaheads stop and where its steps may pause (assistant/lookahead.py)."""

from __future__ import annotations

import pytest

from assistant.errors import GuidecodeError
from assistant.lookahead import answer_boundary, pause_place, statement_boundary
from decoders.stopping import StopRules


def test_a_statement_ends_where_its_lines_parse():
    reached = statement_boundary("    ")
    assert not reached("", "return a +")
    assert reached("", "return a + b\n")
    assert not reached("", "x = f(a,\n")
    assert not reached("", "if x:\n")  # a header runs on into its body
    assert reached("", "if x:\n        y = 1\n")


def test_an_answer_ends_where_the_completions_own_rules_cut_it():
    stop = StopRules(max_new_tokens=64, stop_strings=("\ndef ",))
    reached = answer_boundary(stop)
    assert not reached("    x = 1\n", "    return x")
    assert reached("    x = 1\n", "    return x\ndef g")  # the cut may fall in the text written before the lookahead's end
    assert reached("    return x\n", "def g():")


def test_pauses_may_be_limited_to_where_statements_begin():
    statements = pause_place("statements", "    ")
    assert statements is not None
    assert statements("") and statements("x = 1\n    ") and statements("x = 1\n")
    assert not statements("x = ") and not statements("    return")
    start = pause_place("start", "    ")
    assert start is not None
    assert start("") and start("  ") and not start("x = 1\n    ")
    assert pause_place("any", "    ") is None


def test_an_unknown_place_to_pause_is_refused():
    from assistant.config import RerankConfig

    with pytest.raises(GuidecodeError, match="unknown place to pause 'often'; choose from any, statements, start"):
        RerankConfig(True, "adadec", threshold=1.0, pause_at="often")
