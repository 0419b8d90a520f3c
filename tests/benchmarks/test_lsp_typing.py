"""The typing replay's own rules: keystrokes, the typed stretch, and how a pause is scored."""

from pathlib import Path

from benchmarks.lsp_typing import Pause, TypingPlan, next_stroke, plan_stretch, summarize


def test_enter_and_the_next_lines_indentation_are_one_keystroke():
    typed = "x = 1\n    y\n"
    strokes, done = [], 0
    while done < len(typed):
        stroke = next_stroke(typed, done)
        strokes.append(stroke)
        done += len(stroke)
    assert strokes == ["x", " ", "=", " ", "1", "\n    ", "y", "\n"]


def test_the_stretch_is_whole_lines_emptied_into_one_empty_line():
    text = "a\nb\nc\nd\n"
    document, cursor, typed = plan_stretch(text, TypingPlan(Path("f.py"), start_line=1, lines=2))
    assert (document, cursor, typed) == ("a\n\nd\n", 2, "b\nc")
    assert document[:cursor] + typed + document[cursor:] == text


def test_a_pause_is_scored_by_its_first_line_and_its_first_word():
    right = Pause(0.0, 0.5, "total(a, b)\nnext", shown_ms=120.0, shown="total(a, b)")
    word = Pause(0.0, 0.5, "total(a, b)\n", shown_ms=200.0, shown="total(x)")
    wrong = Pause(0.0, 0.5, "total(a, b)\n", shown_ms=90.0, shown="count")
    missed = Pause(0.0, 0.4, "total(a, b)\n")
    assert (right.line_match(), right.word_match()) == (True, True)
    assert (word.line_match(), word.word_match()) == (False, True)
    assert (wrong.line_match(), wrong.word_match()) == (False, False)
    summary = summarize([right, word, wrong, missed])
    assert (summary["n"], summary["shown"], summary["shown_share"]) == (4, 3, 0.75)
    assert (summary["line_match"], summary["word_match"]) == (1, 2)
    assert summary["shown_ms"]["p50"] == 120.0
