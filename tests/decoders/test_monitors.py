"""The name monitor on a small vocabulary, with a static analysis given as a table (the real
language server is exercised in tests/lsp/test_analysis.py and the end-to-end tests)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from decoders.draft import EMPTY
from decoders.monitors import Lexer, MonitorContext, NameIndex, NameMonitor, Trigger
from decoders.sampling import SamplingConfig
from decoders.verify import accept
from decoders.vocabulary import Vocabulary

TEXTS = [
    "",
    "obj",
    ".",
    "get",
    "ge",
    "t",
    "gex",
    "items",
    "(",
    ")",
    ".get",
    ".gex",
    ".items",
    "get(",
    "\n",
    " ",
    "x",
    "=",
    "import",
    "os",
    "path",
    "po",
    ",",
    ".path",
    "1",
    "#",
    "'",
]
IDS = {t: i for i, t in enumerate(TEXTS)}
VOCAB = Vocabulary.from_texts(TEXTS)
INDEX = NameIndex(VOCAB)


@dataclass(frozen=True)
class Member:
    name: str


class TableAnalysis:
    """Answers by the text before the query point: `obj.` has get/items, `import ` has os, `os.` has path."""

    def signature(self, path, text, offset):
        return None  # no signatures: these tests are about names

    def __init__(self):
        self.asked: list[str] = []

    def completions(self, path, text, offset):
        before = text[:offset]
        self.asked.append(before)
        for end, names in ((" obj.", ("get", "items")), ("import ", ("os",)), ("os.", ("path",)), ("mystery.", ())):
            if before.endswith(end):
                return tuple(Member(n) for n in names)
        return None


def monitor(prefix: str, analysis=None) -> NameMonitor:
    return NameMonitor.start(MonitorContext(analysis or TableAnalysis(), "m.py", prefix, "", INDEX))


def allowed_texts(guide) -> set[str]:
    mask = guide.allowed()
    return {TEXTS[i] for i in range(len(TEXTS)) if mask[i]} if mask is not None else {"*"}


def test_after_a_dot_only_listed_members_may_start():
    m = monitor("y = obj.")
    assert allowed_texts(m) == {"get", "ge", "items", "get("}
    m = m.advance(IDS["ge"])
    assert allowed_texts(m) == {"t"}  # "gex" would leave the list
    m = m.advance(IDS["t"])
    assert {"(", ")", "\n", " ", "=", ",", ".", ".get", "#", "'"} <= allowed_texts(m)  # the name may end
    assert "x" not in allowed_texts(m) and "items" not in allowed_texts(m)
    assert m.advance(IDS["("]).allowed() is None  # the identifier ended: free again


def test_no_constraint_outside_code_or_where_the_server_knows_nothing():
    assert monitor("s = 'obj.").allowed() is None  # in a string
    assert monitor("# see obj.").allowed() is None  # in a comment
    assert monitor("y = 1.").allowed() is None  # a number
    assert monitor("y = mystery.").allowed() is None  # the server lists nothing
    assert monitor("y = unknown.").allowed() is None  # the server gives no answer


def test_a_partial_member_at_the_cursor_stays_constrained_unless_already_off_the_list():
    assert allowed_texts(monitor("y = obj.ge")) == {"t"}
    assert monitor("y = obj.gz").allowed() is None


def test_refine_removes_every_dotted_token_whose_member_is_not_listed():
    analysis = TableAnalysis()
    m = monitor("y = obj", analysis)
    assert m.allowed() is None  # nothing asked until a "." is chosen
    assert m.refine(IDS[".get"]) is None and m.refine(IDS["."]) is None and m.refine(IDS["x"]) is None
    removed = m.refine(IDS[".gex"])
    assert {TEXTS[i] for i in range(len(TEXTS)) if removed[i]} == {".gex", ".path"}
    assert analysis.asked.count("y = obj.") == 1  # one question, remembered


def test_the_verifier_chooses_again_after_a_refinement():
    m = monitor("y = obj")
    logits = torch.full((1, len(TEXTS)), -5.0)
    logits[0, IDS[".gex"]], logits[0, IDS[".path"]], logits[0, IDS[".items"]] = 9.0, 8.0, 7.0
    chosen = accept(logits, EMPTY, m, SamplingConfig(), None)
    assert chosen.tokens == [IDS[".items"]]


def test_refined_sampling_keeps_the_distribution_restricted_to_allowed_tokens():
    m = monitor("y = obj")
    logits = torch.zeros(1, len(TEXTS))
    logits[0, IDS[".gex"]], logits[0, IDS[".get"]], logits[0, IDS[".items"]] = 3.0, 1.0, 0.0
    logits[0, [i for i, t in enumerate(TEXTS) if t not in (".gex", ".get", ".items")]] = -30.0
    generator = torch.Generator().manual_seed(0)
    draws = [accept(logits, EMPTY, m, SamplingConfig(temperature=1.0), generator).tokens[0] for _ in range(3000)]
    share = draws.count(IDS[".get"]) / len(draws)
    expected = torch.softmax(torch.tensor([1.0, 0.0]), 0)[0].item()  # .gex removed: .get vs .items
    assert IDS[".gex"] not in draws
    assert share == pytest.approx(expected, abs=0.03)


def test_imports_name_only_what_exists():
    m = monitor("import ")
    assert allowed_texts(m) >= {"os"} and "x" not in allowed_texts(m)
    m = m.advance(IDS["os"]).advance(IDS["."])
    assert allowed_texts(m) == {"path"}
    assert monitor("import ", TableAnalysis()).refine(IDS["x"]) is not None


def test_each_trigger_can_be_switched_off():
    context = MonitorContext(TableAnalysis(), "m.py", "y = obj.", "", INDEX, triggers=frozenset({Trigger.IMPORT}))
    assert NameMonitor.start(context).allowed() is None


@pytest.mark.parametrize(
    "text, triggers",
    [
        ("x = obj.a", ["dereference"]),
        ("x = 1.5", []),
        ('"a".join', ["dereference"]),
        ('s = "o.k" # c.d\ny.z', ["dereference"]),
        ('"""doc. x.y"""\nq.r', ["dereference"]),
        ('x = ""\ny.z', ["dereference"]),
        ('"a""b".c', ["dereference"]),
        ("f(a).b[0].c", ["dereference", "dereference"]),
        ("return .5", []),
        ("import os.pa", ["import", "import"]),
        ("from x import a, b", ["import", "import", "import"]),
        ("from . import x", ["import", "import"]),
    ],
)
def test_lexer_triggers(text, triggers):
    lexer = Lexer()
    found = [t.value for c in text if (t := lexer.feed(c)) is not None]
    assert found == triggers


def test_name_masks_never_loop_over_the_vocabulary_and_respect_identifier_ends():
    mask = INDEX.mask(("get", "gem"), "ge")
    assert {TEXTS[i] for i in range(len(TEXTS)) if mask[i]} == {"t"}  # no "m" token: "gem" cannot be spelled on
    mask = INDEX.mask(("get",), "", lead=".")
    assert {TEXTS[i] for i in range(len(TEXTS)) if mask[i]} == {".", ".get"}
