"""The argument monitor on a small vocabulary, with signatures given as a table (the real
language server's signatureHelp is read in assistant/analysis/replies.py and tested in tests/assistant/test_analysis.py)."""

from __future__ import annotations

import pytest
import torch

from assistant.analysis.replies import Parameter, Signature, parse_parameters
from decoders.draft import EMPTY
from decoders.monitors import MonitorContext, NameIndex
from decoders.monitors.arguments import ArgumentContext, ArgumentMonitor
from decoders.sampling import SamplingConfig
from decoders.verify import accept
from decoders.vocabulary import Vocabulary

TEXTS = [
    "",
    "f",
    "g",
    "(",
    ")",
    ",",
    ",)",
    "1,",
    " ",
    "1",
    "2",
    "a",
    "b",
    "c",
    "q",
    "=",
    "==",
    " =",
    "=1",
    "a=",
    "q=",
    "'",
    "[",
    "]",
    "*",
    "lambda",
    ":",
    "\n",
    ",\n",
]
IDS = {t: i for i, t in enumerate(TEXTS)}
INDEX = NameIndex(Vocabulary.from_texts(TEXTS))


def _signature(*params: tuple[str, str]) -> Signature:
    return Signature("", tuple(Parameter(name, kind, False) for name, kind in params))


SIGNATURES = {  # the callee before "(" -> its signature
    "f": _signature(("a", "positional_or_keyword"), ("b", "positional_or_keyword")),
    "one": _signature(("p", "positional_or_keyword")),
    "po": _signature(("a", "positional_only"), ("c", "keyword_only")),
    "kw": _signature(("a", "positional_or_keyword"), ("kw", "var_keyword")),
    "va": _signature(
        ("args", "var_positional"),
    ),
    "gradual": Signature("(...)", parse_parameters(["..."])),  # basedpyright's untyped *args, **kw
}


class TableAnalysis:
    """signatureHelp answered by the name before the "(" at the offset; completions never."""

    def __init__(self):
        self.asked: list[str] = []

    def completions(self, path, text, offset):
        return None

    def signature(self, path, text, offset):
        before = text[:offset]
        self.asked.append(before)
        assert before.endswith("(")
        callee = before[:-1].split("(")[-1].split(",")[-1].split()[-1]
        return SIGNATURES.get(callee)


def monitor(prefix: str, analysis=None) -> ArgumentMonitor:
    context = MonitorContext(analysis or TableAnalysis(), "m.py", prefix, "", INDEX)
    return ArgumentMonitor.start(ArgumentContext(context))


def removed(m: ArgumentMonitor, text: str) -> set[str] | None:
    mask = m.refine(IDS[text])
    return None if mask is None else {TEXTS[i] for i in range(len(TEXTS)) if mask[i]}


def walk(m: ArgumentMonitor, *texts: str) -> ArgumentMonitor:
    for text in texts:
        assert m.refine(IDS[text]) is None, text
        m = m.advance(IDS[text])
    return m


def test_keywords_must_name_a_parameter_not_yet_given():
    m = monitor("x = f(")
    assert m.allowed() is None  # nothing is stated over the vocabulary
    assert removed(m, "a=") is None and removed(m, "q") is None
    assert removed(m, "q=") == {"q="}
    assert removed(monitor("f(a=1, "), "a=") == {"a="}  # repeated
    assert removed(monitor("f(1, "), "a=") == {"a="}  # already given positionally
    assert removed(monitor("f(1, "), "b") is None
    assert removed(monitor("po("), "a=") == {"a="}  # positional-only


def test_a_lone_equals_after_a_bad_name_goes_with_every_token_like_it_but_not_a_comparison():
    m = monitor("f(q")
    assert removed(m, "=") == {"=", " =", "=1"}
    assert removed(m, "==") is None
    assert removed(monitor("f(q "), "=") == {"=", " =", "=1"}
    assert removed(monitor("f(q="), "1") is None  # the user's own keyword: not checked


def test_kwargs_accepts_any_new_keyword():
    assert removed(monitor("kw("), "q=") is None
    assert removed(monitor("kw(q=1, "), "q=") == {"q="}  # still not twice


def test_a_comma_is_refused_only_when_no_parameter_could_take_what_follows():
    assert removed(monitor("f(1"), ",") is None
    assert removed(monitor("f(1, 2"), ",") == {",", ",)"}  # every ","-token, not ")"
    assert removed(monitor("f(1, 2"), ")") is None
    assert removed(monitor("one("), "1,") == {"1,"}  # a comma inside a token
    assert removed(monitor("po(1"), ",") is None  # the keyword-only c may follow
    assert removed(monitor("kw(1"), ",") is None  # **kw may follow
    assert removed(monitor("va(1, 2, 3"), ",") is None  # *args
    assert removed(monitor("f(1, b=2"), ",") is None  # after a keyword: not counted
    assert removed(monitor("f(1, 2, 3"), ",") is None  # the user's text already disagrees
    assert removed(monitor("f(*xs"), ",") is None  # unpacked: unknown count


def test_nested_brackets_strings_comments_and_lambdas_keep_to_their_own_depth():
    assert removed(monitor("f(va(1, 2, 3)"), ",") is None
    assert removed(monitor("f(va(1, 2, 3), [4, 5]"), ",") == {",", ",)"}
    assert removed(monitor("f('x, y, z'"), ",") is None
    assert removed(monitor("f(1, one(2"), ",") == {",", ",)"}  # the inner call has its own rule
    assert removed(monitor("f(1, [2"), ",") is None
    assert removed(monitor("f(va(q"), "=") == {"=", " =", "=1"}  # va takes no keywords
    assert removed(monitor("f(1, # a, b\n 2"), ",") == {",", ",)"}
    assert removed(monitor("one(lambda x"), ",") is None
    assert removed(monitor("one(lambda x, y: x"), ",") == {",", ",)"}
    assert removed(monitor("def one(x"), ",") is None  # a header, not a call
    assert removed(monitor("one(x == 1"), ",") == {",", ",)"}


def test_no_signature_means_no_constraint():
    for prefix in ("unknown(1, 2, 3", "gradual(1, 2, 3", "(1, 2, 3", "x = [1, 2"):
        assert removed(monitor(prefix), ",") is None
    assert removed(monitor("unknown(q"), "=") is None and removed(monitor("gradual("), "q=") is None


def test_generated_text_is_followed_like_the_prefix_and_each_call_asked_once():
    analysis = TableAnalysis()
    m = walk(monitor("y = ", analysis), "f", "(", "1", ",", " ", "g", "(", "2", ")")
    assert removed(m, ",") == {",", ",)"}
    assert removed(m, ",") == {",", ",)"}
    assert analysis.asked == ["y = f("]  # once, remembered; g( was never asked: no comma or keyword there
    assert walk(monitor("f("), "q").refine(IDS["="]) is not None


def test_the_verifier_chooses_the_next_best_allowed_token():
    logits = torch.full((1, len(TEXTS)), -5.0)
    logits[0, IDS[","]], logits[0, IDS[",)"]], logits[0, IDS[")"]] = 9.0, 8.0, 7.0
    assert accept(logits, EMPTY, monitor("f(1, 2"), SamplingConfig(), None).tokens == [IDS[")"]]
    logits = torch.full((1, len(TEXTS)), -5.0)
    logits[0, IDS["="]], logits[0, IDS["=1"]], logits[0, IDS["=="]] = 9.0, 8.0, 7.0
    assert accept(logits, EMPTY, monitor("f(q"), SamplingConfig(), None).tokens == [IDS["=="]]


def test_refined_sampling_keeps_the_distribution_restricted_to_allowed_tokens():
    logits = torch.full((1, len(TEXTS)), -30.0)
    logits[0, IDS[","]], logits[0, IDS[")"]], logits[0, IDS["1"]] = 3.0, 1.0, 0.0
    generator = torch.Generator().manual_seed(0)
    m = monitor("one(1")
    draws = [accept(logits, EMPTY, m, SamplingConfig(temperature=1.0), generator).tokens[0] for _ in range(2000)]
    assert IDS[","] not in draws
    expected = torch.softmax(torch.tensor([1.0, 0.0]), 0)[0].item()
    assert draws.count(IDS[")"]) / len(draws) == pytest.approx(expected, abs=0.035)


def test_a_trailing_comma_that_ends_the_line_is_allowed_after_the_last_positional():
    # The multi-line call style formatters write: `f(\n    a,\n    b,\n)`.
    m = monitor("x = f(\n    1,\n    2")
    assert removed(m, ",") is not None  # another argument would follow on this line
    assert removed(m, ",\n") is None


def c_monitor(prefix: str) -> ArgumentMonitor:
    """In a language without keyword arguments, read by the C family's lexer."""
    from decoders.brace_lexer import BraceLexer

    context = MonitorContext(TableAnalysis(), "m.ts", prefix, "", INDEX, new_lexer=BraceLexer)
    return ArgumentMonitor.start(ArgumentContext(context, keywords=False))


def test_in_the_c_family_only_the_count_of_arguments_is_checked():
    assert removed(c_monitor("x = f(1, 2"), ",") == {",", ",)"}
    assert removed(c_monitor("x = f(1"), ",") is None
    assert removed(c_monitor("f(q"), "=") is None  # `q = 1` is an assignment there, not a keyword
    assert removed(c_monitor("va(1, 2"), ",") is None  # variadic
    assert removed(c_monitor("f(...xs"), ",") is None  # spread: unknown count
    assert removed(c_monitor('f("a, b", 2'), ",") == {",", ",)"}  # a comma in a string is no argument's
    assert removed(c_monitor("f(m<a, b>(1), 2"), ",") == {",", ",)"}  # nor one between type arguments
    assert removed(c_monitor("f(a < b, 2"), ",") == {",", ",)"}  # a comparison, spaced, is no "<"
    assert removed(c_monitor("function f(a, b"), ",") is None  # parameters, not arguments
    assert removed(c_monitor("if (f(1, 2) && g(a"), ",") is None  # g has no signature here


def test_c_family_signatures_take_positional_arguments_and_dots_make_them_variadic():
    from assistant.analysis.replies import positional_parameters
    from decoders.monitors.arguments import CallRule

    rule = CallRule.of(Signature("area(w: number, h?: number)", positional_parameters(["w: number", "h?: number"])))
    assert rule is not None and rule.positional == ("w: number", "h?: number") and not rule.keyword and not rule.comma_ok(2)
    for variadic in (["...xs: number[]"], ["xs ...int"], ["const char *fmt", "..."]):
        rule = CallRule.of(Signature("", positional_parameters(variadic)))
        assert rule is None or rule.comma_ok(5)
