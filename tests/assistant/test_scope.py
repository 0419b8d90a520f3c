import pytest

from assistant.scope import Scope, ScopeKind, block_end, decide, finish, repeats_next_line


def at_end(text):
    return decide(text, len(text))


@pytest.mark.parametrize(
    "text, kind, indent",
    [
        ("def f(x):\n    ", ScopeKind.BLOCK, 0),
        ("def f(x):", ScopeKind.BLOCK, 0),
        ("class A:\n    def g(self):\n        ", ScopeKind.BLOCK, 4),
        ("def f(a,\n      b):  # comment\n", ScopeKind.BLOCK, 0),
        ('def f(x):\n    """Doc."""\n    ', ScopeKind.BLOCK, 0),
        ("for i in range(3):\n    ", ScopeKind.BLOCK, 0),
        ("x = foo(1, ", ScopeKind.LINE, 0),
        ("d = {1:", ScopeKind.LINE, 0),  # a dict's colon opens no block
        ('x = "a:"\n', ScopeKind.LINE, 0),
        ('def f(x):\n    """Doc."""\n    y = 1\n    ', ScopeKind.LINE, 0),
    ],
)
def test_scope_is_decided_from_the_syntax(text, kind, indent):
    scope = at_end(text)
    assert scope.kind is kind
    assert scope.header_indent == indent


def test_scope_records_what_follows_the_cursor():
    text = "class A:\n    def g(self):\n        \n\n    def h(self): pass\n"
    scope = decide(text, text.index("\n\n"))
    assert scope.kind is ScopeKind.BLOCK and scope.header_indent == 4
    assert scope.next_line == "    def h(self): pass"


def test_block_end_cuts_at_the_first_dedented_line():
    check = block_end(Scope(ScopeKind.BLOCK, "        ", "", header_indent=4))
    assert check("return 1\n") is None
    assert check("x = 1\n\n        return x\n") is None
    assert check("return 1\n\n    def h(self):") == len("return 1\n\n")
    assert check("return 1\n    ") is None  # blank so far: not yet a dedent


def test_repeating_the_next_line_is_cut():
    check = repeats_next_line(Scope(ScopeKind.BLOCK, "", "", 0, next_line="    return total"))
    assert check("total = 0\n") is None
    assert check("total = 0\n    return total\n") == len("total = 0\n")


def test_finish_never_repeats_the_text_after_the_cursor():
    line = Scope(ScopeKind.LINE, "print(f(", "))")
    assert finish("x))", line) == "x"
    assert finish("x)", line) == "x"
    assert finish("x", line) == "x"
    block = Scope(ScopeKind.BLOCK, "    ", "", 0, next_line="    return y")
    assert finish("y = 2\n    return y\n", block) == "y = 2"


@pytest.mark.parametrize(
    "path, text, kind, indent",
    [
        ("util.js", "function clamp(v, lo, hi) {", ScopeKind.BLOCK, 0),
        ("util.js", "function clamp(v, lo, hi) {\n    ", ScopeKind.BLOCK, 0),
        ("a.ts", "class A {\n  area(): number {\n    ", ScopeKind.BLOCK, 2),
        ("x.go", "func (c Circle) Area() float64 {\n\t", ScopeKind.BLOCK, 0),
        ("lib.rs", "fn main() {\n    let x = 1;\n    ", ScopeKind.LINE, 0),  # the body has begun: finish lines
        ("m.c", "int f(int a,\n      int b) {\n", ScopeKind.BLOCK, 0),  # a signature over two lines starts at `int f(`
        ("util.js", "const o = {a:", ScopeKind.LINE, 0),
        ("notes.txt", "section {\n  ", ScopeKind.BLOCK, 0),  # no grammar: brackets and indentation
        ("a.js", 'const s = "{"; // {\n', ScopeKind.LINE, 0),  # braces in a string and a comment open nothing
        ("a.go", "if x {\n\t// note {\n", ScopeKind.BLOCK, 0),  # the body so far is a comment
        ("A.java", "class A {\n  void f() {\n    if (x) {\n    } else {\n", ScopeKind.BLOCK, 4),
        ("a.cpp", "struct S {\n", ScopeKind.BLOCK, 0),
        ("a.tsx", "export function App() {\n  ", ScopeKind.BLOCK, 0),
        ("a.rb", "class Shape\n  def area\n    ", ScopeKind.BLOCK, 2),
        ("a.rb", "items.each do |item|\n", ScopeKind.BLOCK, 0),
        ("a.rb", "def area; end\n", ScopeKind.LINE, 0),  # a one-line definition has its end
        ("a.rb", "  return 1 if x\n", ScopeKind.LINE, 0),  # a modifier opens nothing
        ("a.lua", "local function clamp(v)\n  ", ScopeKind.BLOCK, 0),
        ("a.lua", "if v < lo then  -- below\n", ScopeKind.BLOCK, 0),
        ("a.ex", "defmodule Shapes do\n  ", ScopeKind.BLOCK, 0),
        ("notes.txt", "items = [\n", ScopeKind.BLOCK, 0),
        ("notes.txt", "call(a,\n", ScopeKind.LINE, 0),
    ],
)
def test_each_family_reads_its_own_block_form(path, text, kind, indent):
    from assistant.languages import detect

    scope = decide(text, len(text), detect(path))
    assert (scope.kind, scope.header_indent) == (kind, indent)


def test_a_brace_block_stops_before_the_closing_brace_the_file_already_has():
    from assistant.languages import detect

    text = "function clamp(v, lo, hi) {\n    \n}\n"
    scope = decide(text, text.index("\n") + 5, detect("util.js"))
    written = "if (v < lo) {\n        return lo;\n    }\n    return v;\n}\n"
    assert written[: block_end(scope)(written)] == "if (v < lo) {\n        return lo;\n    }\n    return v;\n"


def test_the_language_comes_from_the_editor_or_the_file_name():
    from assistant.languages import PYTHON, TEXT, detect

    assert detect("a/b.tsx").name == "typescriptreact" and detect("x.GO").name == "go"
    assert detect("README") is TEXT and detect(None) is PYTHON and detect("-") is PYTHON
    assert detect("script", language_id="python") is PYTHON and detect("a.py", language_id="rust").name == "rust"


@pytest.mark.parametrize("language", ["python", "javascript", "javascriptreact", "typescript", "typescriptreact", "go", "rust", "java", "c", "cpp"])
def test_each_language_with_a_grammar_parses(language):
    from assistant.languages.grammars import parser_for

    parser = parser_for(language)
    assert parser is not None and not parser.parse(b"").root_node.has_error
    assert parser_for("cobol") is None


def test_a_keyword_block_stops_before_its_end():
    from assistant.languages import detect

    text = "def area(r)\n  \nend\n"
    scope = decide(text, text.index("\n") + 3, detect("a.rb"))
    written = "if r < 0\n    raise 'negative'\n  end\n  3.14 * r * r\nend\n"
    assert written[: block_end(scope)(written)] == "if r < 0\n    raise 'negative'\n  end\n  3.14 * r * r\n"


@pytest.mark.parametrize(
    "path, text, closer",
    [
        ("a.py", 'print("hel|")', '"'),
        ("a.py", "s = '''ab|'''", "'''"),
        ("a.py", 'x = 1  # say "hi|"', ""),  # a line comment is closed by the newline alone
        ("a.py", 'f"{x.|}"', ""),  # code inside an f-string
        ("a.js", "const s = `ab|c`;", "`"),
        ("a.ts", "const s = 'ab|';", "'"),
        ("a.c", "/* hello | */ int x;", "*/"),
        ("a.go", 'package main\nfunc f() {\n\tfmt.Println("x|y")\n}\n', '"'),
        ("a.rs", "fn f() { let c = 'a|'; }", "'"),
        ("A.java", 'class A { String s = "a\\|n"; }', ""),  # half an escape
        ("a.py", "x = f(a|)", ""),
        ("notes.txt", 'say "hi|"', ""),  # no grammar: not read
    ],
)
def test_inside_a_literal_the_line_stops_at_its_closing_delimiter(path, text, closer):
    from assistant.languages import detect

    cursor = text.index("|")
    scope = decide(text.replace("|", "", 1), cursor, detect(path))
    assert scope.kind is ScopeKind.LINE and scope.closer == closer


def test_the_closing_delimiter_cuts_the_completion_unless_escaped():
    from assistant.scope import closes

    check = closes(Scope(ScopeKind.LINE, 'print("hel', '")', closer='"'))
    assert check('lo")') == 2
    assert check('lo \\"you\\" there") + 1') == len('lo \\"you\\" there')
    assert check("lo") is None


def test_a_line_that_already_closes_its_bracket_stops_where_the_completion_would_close_it_again():
    from assistant.scope import closes_the_line, closes_unopened

    scope = Scope(ScopeKind.LINE, "total = add(a, ", ");")
    check = closes_unopened(scope)
    assert closes_the_line(scope) and not closes_the_line(Scope(ScopeKind.LINE, "x = ", " + 1"))
    assert check("b)") == 1
    assert check("f(b), c) + 1") == len("f(b), c")
    assert check("')', b") is None  # a bracket in the completion's own string
    assert check("b") is None


def test_a_block_cut_off_by_the_budget_keeps_its_lines_whose_brackets_are_closed():
    from assistant.scope import whole_lines

    cut = 'if (x) {\n    say("a { b");  // {\n  }\n  for (const y of ys) {\n    total += y'
    assert whole_lines(cut) == 'if (x) {\n    say("a { b");  // {\n  }'
    assert whole_lines("return x;\n") == "return x;"
    assert whole_lines("items.map((x) => {") == ""
    block = Scope(ScopeKind.BLOCK, "  ", "", 0, family="braces")
    assert finish(cut, block, cut_off=True) == whole_lines(cut)
    assert finish("a();\n  b(c);", block) == "a();\n  b(c);"  # stopped by its scope, whole: as written
    python = Scope(ScopeKind.BLOCK, "    ", "", 0)
    assert finish("x = [\n  1,", python, cut_off=True) == "x = [\n  1,"  # Python's blocks: left as they are


def test_before_a_semicolon_a_line_closes_only_the_brackets_it_opened():
    from assistant.scope import closes_the_line, closes_unopened

    scope = Scope(ScopeKind.LINE, "    std::cout << name", ";")
    assert closes_the_line(scope)
    assert closes_unopened(scope)(".c_str())") == len(".c_str()")
    opened = closes_unopened(Scope(ScopeKind.LINE, "total = add(a, ", ";"))
    assert opened("b)") is None and opened("b)) + 1") == len("b)")


@pytest.mark.parametrize(
    "written, kept",
    [
        ('if (x) {\n    return "NULL";\n  }\n  else', 'if (x) {\n    return "NULL";\n  }'),
        ("if (ok(a))", ""),
        ("total += 1;\n  while (busy(x))", "total += 1;"),
        ("if (x) {\n    go();", ""),  # stopped with its brace open
        ("return a;", "return a;"),
        ("do {\n    i++;\n  } while (i < n);", "do {\n    i++;\n  } while (i < n);"),
    ],
)
def test_a_braces_block_keeps_no_open_bracket_and_no_header_waiting_for_its_statement(written, kept):
    assert finish(written, Scope(ScopeKind.BLOCK, "  ", "", 0, family="braces")) == kept


def test_the_next_line_rule_cuts_at_the_end_of_the_first_line_with_something_on_it():
    from assistant.scope import ends_the_next_line

    assert ends_the_next_line("\n    y = 1\n    z") == len("\n    y = 1")
    assert ends_the_next_line("\n\n    y = 1\n") == len("\n\n    y = 1")
    assert ends_the_next_line("\n    y = 1") is None  # not ended yet
    assert ends_the_next_line("\n   ") is None
    assert ends_the_next_line("y = 1\nz") == len("y = 1")
    assert ends_the_next_line("continue\n    y = 1\n", after=len("continue")) == len("continue\n    y = 1")  # healing's rewrite skipped
