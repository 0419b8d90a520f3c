import pytest

from decoders.brace_lexer import BraceLexer, Triggers
from decoders.lexer import Trigger


def triggers_in(text: str, triggers: Triggers = Triggers()) -> list[int]:
    """Offsets just past each character that completes a member trigger."""
    lexer = BraceLexer(triggers)
    return [i + 1 for i, c in enumerate(text) if lexer.feed(c) is Trigger.DEREFERENCE]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("obj.", ["obj."]),
        ("f(x).y.", ["f(x).", "f(x).y."]),
        ("xs[0].", ["xs[0]."]),
        ('"s".', ['"s".']),
        ("a?.b", ["a?."]),
        ("return .5", []),
        ("x = 1.5", []),
        ("// obj.\nz", []),  # a line comment
        ("/* obj. */ w.", ["/* obj. */ w."]),
        ('s = "a.b"; t.', ['s = "a.b"; t.']),
        ("`${a.b}` + c.", ["`${a.b}` + c."]),  # nothing inside a template literal
        ("...args", []),
        ("p->", []),  # only where the language has `->`
    ],
)
def test_member_triggers_after_expressions(text, expected):
    assert triggers_in(text) == [len(e) for e in expected]


def test_arrow_and_path_triggers_are_the_languages_own():
    c, cpp = Triggers(arrow=True), Triggers(arrow=True, path=True)
    assert triggers_in("p->", c) == [3] and triggers_in("ns::", c) == []
    assert triggers_in("std::vector<int> v; v.", cpp) == [5, len("std::vector<int> v; v.")]
    assert triggers_in("a->b->", c) == [3, 6]
    assert triggers_in("a - >", c) == []
    assert triggers_in("x ? y : z", cpp) == []
    assert triggers_in("i-- > 0", c) == []


def test_a_clone_goes_on_alone():
    lexer = BraceLexer()
    for c in 'say("x':
        lexer.feed(c)
    clone = lexer.clone()
    assert clone.mode == "string" and clone.feed('"') is None and clone.mode == "code"
    assert lexer.mode == "string"
