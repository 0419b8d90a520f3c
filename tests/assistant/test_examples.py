"""The lame prompt: a document without the input-output examples of its docstrings."""

from assistant.evaluation.datasets import load_dataset
from assistant.examples import without_examples


def test_doctests_and_their_outputs_go_and_the_description_stays():
    text = 'def f(x):\n    """Double x.\n    >>> f(2)\n    4\n    >>> f(0)\n    0\n    """\n'
    assert without_examples(text) == 'def f(x):\n    """Double x.\n    """\n'


def test_example_sections_labelled_examples_and_calls_with_results_go():
    text = (
        'def g(s):\n    """Reverse s.\n\n    For example:\n    g("ab") == "ba"\n    g("") => ""\n\n'
        '    Example 1:\n        Input: s = "x"\n        Output: "x"\n    Note: s is short.\n    """\n    return s[::-1]\n'
    )
    assert without_examples(text) == 'def g(s):\n    """Reverse s.\n\n\n    Note: s is short.\n    """\n    return s[::-1]\n'


def test_code_and_strings_outside_docstrings_are_untouched():
    text = 'x = "f(1) == 2"\n# >>> f(1)\ndef f(a):\n    y = "Example: f(1) == 2"\n    return y\n'
    assert without_examples(text) == text


def test_most_humaneval_prompts_lose_their_examples_and_keep_their_signature():
    tasks = load_dataset("humaneval").tasks
    stripped = [without_examples(t.prompt) for t in tasks]
    assert sum(s != t.prompt for s, t in zip(stripped, tasks)) >= 150
    assert all(f"def {t.entry_point}(" in s for s, t in zip(stripped, tasks))
    assert not any(">>>" in s for s in stripped)
