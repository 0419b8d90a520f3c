import pytest

from assistant.errors import GuidecodeError
from assistant.functions import find_function_slot
from assistant.prompts import PromptBuilder


def test_byte_tokenizer_has_no_fim_and_falls_back_to_the_prefix(byte_tokenizer):
    builder = PromptBuilder.for_tokenizer(byte_tokenizer)
    assert builder.family == "plain"
    ids = builder.completion(builder.encode("abc"), builder.encode("xyz"))
    assert byte_tokenizer.decode(ids) == "abc"
    assert byte_tokenizer.eos_token_id in builder.stop_token_ids


def test_function_slot_keeps_the_docstring_and_drops_the_placeholder():
    text = 'import math\n\nclass Geo:\n    @staticmethod\n    def area(r):\n        """Area."""\n        ...\n\ndef done():\n    return 1\n'
    slot = find_function_slot(text)
    assert slot.name == "area" and slot.indent == "        "
    assert slot.head == '    @staticmethod\n    def area(r):\n        """Area."""\n'
    assert slot.document[: slot.cursor].endswith('"""Area."""\n        ')
    assert "..." not in slot.document and slot.document.endswith("def done():\n    return 1\n")


def test_function_slot_errors_name_what_exists():
    with pytest.raises(GuidecodeError, match="functions found: f"):
        find_function_slot("def f():\n    return 1\n", "g")
    with pytest.raises(GuidecodeError, match="no function to write"):
        find_function_slot("def f():\n    return 1\n")
