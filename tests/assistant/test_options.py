"""The options schema: every front end's options derive from it, and its files are up to date."""

from dataclasses import fields

import pytest

from assistant import options_files
from assistant.config import AssistantConfig, MonitorConfig, RerankConfig, from_options
from assistant.options import OPTIONS, defaults, in_scope


def test_the_generated_extension_files_are_up_to_date():
    assert options_files.stale() == [], "run: python -m assistant.options_files"


@pytest.mark.parametrize("option", OPTIONS, ids=[o.name for o in OPTIONS])
def test_each_default_obeys_its_own_rule(option):
    for scope in option.scopes:
        assert option.check(option.default_in(scope)) is None, scope


def test_flags_and_editor_keys_are_unique():
    flags = [o.cli_flag for o in in_scope("cli")]
    keys = [o.key for o in in_scope("editor")]
    assert len(set(flags)) == len(flags) and len(set(keys)) == len(keys)


def test_every_target_is_a_config_field():
    nested = {"": AssistantConfig, "monitors": MonitorConfig, "rerank": RerankConfig}
    for option in OPTIONS:
        if option.target:
            head, _, tail = option.target.rpartition(".")
            assert tail in {f.name for f in fields(nested[head])}, option.name


def test_the_cli_defaults_are_the_configs_defaults():
    assert from_options(defaults("cli")) == AssistantConfig()


def test_a_rule_is_the_same_for_the_config_the_server_and_the_flags():
    from assistant.cli.args import Parser, UsageError
    from assistant.cli.flags import add_flags
    from assistant.errors import GuidecodeError
    from lsp.options import parse_options

    with pytest.raises(GuidecodeError, match="max_tokens must be an integer from 1 to 8192, got 9000"):
        AssistantConfig(max_new_tokens=9000)
    assert parse_options({"maxTokens": 9000})[1] == ["guidecode option maxTokens=9000 must be an integer from 1 to 8192; using the default 64"]
    parser = Parser(prog="t")
    add_flags(parser, ["max_tokens"])
    with pytest.raises(UsageError, match="--max-tokens: must be an integer from 1 to 8192, got '9000'"):
        parser.parse_args(["--max-tokens", "9000"])
