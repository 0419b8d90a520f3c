"""A block completion ends at the block's end in every language family, through the whole
assistant (prompt, decoding loop, stop rules, finish), on the tiny model with a guide that makes it
write a given text: the text goes on past the block, and the completion must stop where it ends."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from assistant import Assistant, AssistantConfig
from assistant.loading import LoadedModel
from decoders.guides import Guide
from decoders.vocabulary import Vocabulary


@dataclass(frozen=True)
class Scripted(Guide):
    """Only tokens that spell the next characters of `script` may come."""

    vocabulary: Vocabulary
    script: str

    def allowed(self) -> torch.Tensor:
        ids = [i for i, text in enumerate(self.vocabulary.texts) if text and self.script.startswith(text)]
        return self.vocabulary.mask(ids)

    def advance(self, token: int) -> Scripted:
        return Scripted(self.vocabulary, self.script[len(self.vocabulary.texts[token]) :])


@pytest.fixture(scope="module")
def assistant(tiny_model, byte_tokenizer):
    loaded = LoadedModel(tiny_model, byte_tokenizer, "tiny", torch.float32, torch.device("cpu"), 0.0, False)
    return Assistant(loaded, AssistantConfig(max_new_tokens=200, speculation=False, healing=False))


# (file, the document with | at the cursor, the body the model is made to write, what it goes on to write)
CASES = [
    ("shapes.ts", "class Circle {\n  area(): number {\n    |\n  }\n}\n", "const r = this.r;\n    return Math.PI * r * r;", "\n  }\n  scale() {}\n"),
    ("util.js", "function clamp(v, lo, hi) {\n  |\n}\n", "if (v < lo) {\n    return lo;\n  }\n  return v;", "\n}\nexport { clamp };\n"),
    ("shapes.go", "func (c Circle) Area() float64 {\n\t|\n}\n", "r := c.R\n\treturn math.Pi * r * r", "\n}\n\nfunc main() {}\n"),
    ("lib.rs", "fn area(r: f64) -> f64 {\n    |\n}\n", "let k = 3.14;\n    k * r * r", "\n}\n\nfn main() {}\n"),
    ("Shape.java", "class Shape {\n    double area(double r) {\n        |\n    }\n}\n", "double k = 3.14;\n        return k * r * r;", "\n    }\n}\n"),
    ("area.c", "double area(double r)\n{\n    |\n}\n", "double k = 3.14;\n    return k * r * r;", "\n}\n\nint main(void) { return 0; }\n"),
    ("area.cpp", "namespace geo {\ndouble area(double r) {\n    |\n}\n}\n", "return 3.14 * r * r;", "\n}\n}  // namespace geo\n"),
    ("shapes.rb", "class Circle\n  def area\n    |\n  end\nend\n", "k = 3.14\n    k * @r * @r", "\n  end\n\n  def scale; end\n"),
    ("shapes.py", "class Circle:\n    def area(self):\n        |\n", "k = 3.14\n        return k * self.r ** 2", "\n\n    def scale(self):\n        pass\n"),
]


@pytest.mark.parametrize("path, document, body, after", CASES, ids=[c[0] for c in CASES])
def test_a_block_completion_ends_where_the_block_ends(assistant, path, document, body, after):
    cursor = document.index("|")
    text = document.replace("|", "", 1)
    guide = Scripted(assistant.vocabulary, body + after)
    completion = assistant.complete(text, cursor, guide=guide, path=path)
    assert completion.scope == "block"
    assert completion.text == body and completion.stop_reason == "stop"


@pytest.mark.parametrize(
    "path, document, written, expected",
    [
        ("app.ts", 'const greeting = "Hello, |";\n', 'world";\nconsole.log(greeting);\n', "world"),
        ("main.go", 'package main\n\nfunc main() {\n\tprintln("a|")\n}\n', 'b")\n', "b"),
        ("area.c", "/* the area | */\n", "of a circle */\n", "of a circle"),
        ("shapes.py", "def f(x):\n    return g(x|)\n", ", 2)\n", ", 2"),
        ("util.js", "const total = add(a, |);\n", "b) + clamp(c, 0);\n", "b"),  # not closed a second time
    ],
)
def test_a_line_completion_stops_before_what_follows_the_cursor(assistant, path, document, written, expected):
    cursor = document.index("|")
    text = document.replace("|", "", 1)
    completion = assistant.complete(text, cursor, guide=Scripted(assistant.vocabulary, written), path=path)
    assert completion.scope == "line" and completion.text == expected


def test_an_untitled_buffer_takes_the_editors_language(assistant):
    text = "function f() {\n  \n}\n"
    guide = Scripted(assistant.vocabulary, "return 1;\n}\nf();\n")
    as_typescript = assistant.complete(text, text.index("\n") + 3, guide=guide, language="typescript")
    as_python = assistant.complete(text, text.index("\n") + 3, guide=guide)  # no name, no id: Python
    assert (as_typescript.scope, as_typescript.text) == ("block", "return 1;")
    assert as_python.scope == "line"


def test_the_suggestion_after_an_accept_at_a_line_end_is_the_next_line(assistant):
    text = "def f():\n    x = 1\n"
    cursor = text.index("1") + 1
    script = "\n    y = x + 1\n    return y\n"
    plain = assistant.complete(text, cursor, guide=Scripted(assistant.vocabulary, script), path="f.py")
    ahead = assistant.complete(text, cursor, guide=Scripted(assistant.vocabulary, script), path="f.py", next_line=True)
    assert plain.text == ""  # a line completion at the line's end: the line is done
    assert ahead.text == "\n    y = x + 1"


def test_after_an_accept_where_a_block_opens_the_suggestion_is_its_first_line(assistant):
    text = "def f(x):\n"
    cursor = len("def f(x):")
    script = "\n    y = x + 1\n    return y\n"
    ahead = assistant.complete(text, cursor, guide=Scripted(assistant.vocabulary, script), path="f.py", next_line=True)
    assert ahead.text == "\n    y = x + 1"
