"""The server's options as an editor sends them: monitors and the language server behind them, the search."""

from decoders.planning import PlanningConfig
from lsp.options import ServerOptions, parse_options


def test_monitors_are_on_by_default_with_jedi():
    config = ServerOptions().assistant_config()
    assert config.monitors.enabled == ("dereference", "imports", "arguments")
    assert config.monitors.language_server == "jedi"


def test_monitors_can_be_switched_off_and_the_server_chosen():
    options, problems = parse_options({"guides": {"monitors": False}, "languageServer": "pyright"})
    assert problems == []
    config = options.assistant_config()
    assert config.monitors.enabled == () and config.monitors.language_server == "pyright"


def test_an_unknown_language_server_is_reported_and_replaced_by_the_default():
    options, problems = parse_options({"languageServer": "pylance"})
    assert options.language_server == "jedi"
    assert problems == ["guidecode option languageServer='pylance' must be one of jedi, pyright; using the default 'jedi'"]


def test_adadec_is_off_by_default_and_an_option_turns_it_on():
    assert ServerOptions().assistant_config().rerank.enabled is False
    options, problems = parse_options({"adadec": True})
    assert problems == [] and options.assistant_config().rerank.enabled is True
    options, problems = parse_options({"adadec": "yes"})
    assert options.adadec is False and "adadec='yes' must be true or false" in problems[0]


def test_the_whole_name_choice_is_on_with_the_monitors_and_a_guide_option_turns_it_off():
    assert ServerOptions().assistant_config().monitors.choose_names is True
    options, problems = parse_options({"guides": {"nameChoice": False}})
    assert problems == [] and options.assistant_config().monitors.choose_names is False
    assert options.assistant_config().monitors.enabled == ("dereference", "imports", "arguments")  # the monitors stay on
    _, problems = parse_options({"guides": {"nameChoice": "no"}})
    assert problems == ["guidecode option guides.nameChoice='no' must be true or false; using the default True"]


def test_the_search_samples_as_the_cli_does_unless_an_option_says_otherwise():
    assert ServerOptions().search_config() == PlanningConfig(rollouts=8, seconds=60.0)  # PlanningConfig's temperature
    options, problems = parse_options({"searchTemperature": 0, "searchRollouts": 4})
    assert problems == [] and options.search_config() == PlanningConfig(rollouts=4, seconds=60.0, temperature=0)
    for bad in (3, -0.5, "hot", True):
        options, problems = parse_options({"searchTemperature": bad})
        assert options.search_temperature == 0.8 and problems == [
            f"guidecode option searchTemperature={bad!r} must be a number from 0 to 2; using the default 0.8"
        ]


def test_unknown_keys_and_a_guides_value_that_is_no_object_are_reported():
    options, problems = parse_options({"maxTokenz": 3, "guides": True, "maxTokens": 7})
    assert options == ServerOptions(max_tokens=7)
    assert sorted(problems) == ["guidecode option guides must be an object, got True; using the defaults", "unknown guidecode option 'maxTokenz' ignored"]
    _, problems = parse_options({"guides": {"colour": True}})
    assert problems == ["unknown guidecode option 'guides.colour' ignored"]


def test_a_change_of_model_dtype_device_or_weights_reloads_and_no_other_does():
    base = ServerOptions()
    assert base.needs_reload(base.replace(dtype="float32")) and base.needs_reload(base.replace(weights="dense"))
    assert not base.needs_reload(base.replace(max_tokens=9, adadec=True, debounce_ms=0))


def test_an_alias_is_accepted_under_its_canonical_name():
    options, problems = parse_options({"dtype": "BF16"})
    assert problems == [] and options.dtype == "bfloat16"


def test_the_extensions_own_settings_are_not_reported_as_unknown():
    # The VS Code extension sends its whole section: how it starts the server, its trace level and
    # the languages it serves are the client's, not the server's.
    options, problems = parse_options({"server": {"pythonPath": "python3"}, "trace": {"server": "off"}, "languages": ["python", "go"], "bogus": 1})
    assert problems == ["unknown guidecode option 'bogus' ignored"] and options == ServerOptions()


def test_the_context_waits_for_an_unsure_line_unless_an_option_says_always():
    config = ServerOptions().assistant_config()
    assert (config.context_tokens, config.context_when, config.context_confidence) == (0, "unsure", 0.3)
    options, problems = parse_options({"context": {"tokens": 384, "when": "always", "confidence": 0.5}})
    config = options.assistant_config()
    assert problems == [] and (config.context_tokens, config.context_when, config.context_confidence) == (384, "always", 0.5)
    options, problems = parse_options({"context": {"when": "sometimes", "confidence": 2}})
    assert (options.context_when, options.context_confidence) == ("unsure", 0.3) and len(problems) == 2
