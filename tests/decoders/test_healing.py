from decoders import Engine, Plugins, StopRules, generate
from decoders.healing import HealingGuide
from decoders.vocabulary import Vocabulary


def test_vocabulary_answers_prefix_queries(byte_tokenizer):
    vocab = Vocabulary.from_tokenizer(byte_tokenizer)
    a = byte_tokenizer.convert_tokens_to_ids("a")
    assert vocab.starting_with("a") == [a]
    assert vocab.prefixes_of("ab") == [a]
    assert vocab.texts[byte_tokenizer.eos_token_id] == ""  # special tokens never match text


def test_healing_forces_the_taken_back_text_then_frees(tiny_model, byte_tokenizer):
    vocab = Vocabulary.from_tokenizer(byte_tokenizer)
    engine = Engine(tiny_model)
    prompt = byte_tokenizer("def f(x):\n")["input_ids"]
    result = generate(engine, engine.prefill(prompt), byte_tokenizer, Plugins(stop=StopRules(max_new_tokens=12), guide=HealingGuide(vocab, "ret")))
    assert result.text.startswith("ret")
    guide = HealingGuide(vocab, "ret")
    for token in result.tokens[:3]:
        guide = guide.advance(token)
    assert guide.remaining == "" and guide.allowed() is None
