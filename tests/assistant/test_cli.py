"""The CLI's error paths: each exits non-zero with one line that says what to fix, before any model loads."""

import pytest

from assistant.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(err: str) -> str:
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("guidecode: error: ")
    return lines[0]


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "app.py"
    path.write_text("def f(x):\n    return x\n")
    return path


def test_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "complete", f"{tmp_path}/nope.py:1:1")
    assert code == 1 and "file not found" in one_line_error(err)


def test_position_outside_the_file(capsys, source):
    code, _, err = run(capsys, "complete", f"{source}:9:1")
    assert code == 1 and "line 9 is outside the document, which has 3 lines" in one_line_error(err)
    code, _, err = run(capsys, "complete", f"{source}:2:40")
    assert code == 1 and "column 40 is outside line 2" in one_line_error(err)


@pytest.mark.parametrize("position", ["app.py", "app.py:1", "app.py:0:1", "app.py:x:2", ":1:1"])
def test_malformed_positions(capsys, position):
    code, _, err = run(capsys, "complete", position)
    assert code == 2 and "LINE" in one_line_error(err)


def test_malformed_arguments(capsys, source):
    code, _, err = run(capsys, "complete", f"{source}:1:1", "--max-tokens", "-3")
    assert code == 2 and "--max-tokens: must be an integer from 1 to" in one_line_error(err)
    code, _, err = run(capsys, "frobnicate")
    assert code == 2 and "invalid choice" in one_line_error(err)


def test_unknown_model_names_the_embedded_alternatives(capsys, source, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = run(capsys, "complete", f"{source}:2:5", "--model", "nobody/no-such-model")
    line = one_line_error(err)
    assert code == 1 and "nobody/no-such-model" in line and "0.5b" in line and "1.5b" in line


def test_missing_model_path(capsys, source):
    code, _, err = run(capsys, "complete", f"{source}:2:5", "--model", "./nowhere/model.gguf")
    assert code == 1 and "does not exist" in one_line_error(err)


def test_a_file_that_is_not_gguf_is_refused_in_one_line_and_leaves_no_partial_cache(capsys, source, tmp_path, monkeypatch):
    monkeypatch.setenv("GUIDECODE_CACHE", str(tmp_path / "cache"))
    fake = tmp_path / "model.gguf"
    fake.write_text("not a model")
    code, _, err = run(capsys, "complete", f"{source}:2:5", "--model", str(fake))
    assert code == 1 and f"cannot read {fake} as a GGUF model" in one_line_error(err)
    assert not list((tmp_path / "cache").rglob("*.partial"))


def test_bad_dtype(capsys, source):
    code, _, err = run(capsys, "complete", f"{source}:2:5", "--dtype", "int3")
    assert code == 2 and "--dtype: must be one of auto, bfloat16, float16, float32, got 'int3'" in one_line_error(err)


def test_bad_weights_and_prompt_budget(capsys, source):
    code, _, err = run(capsys, "complete", f"{source}:2:5", "--weights", "int3")
    assert code != 0 and "--weights" in err and "int3" in err
    code, _, err = run(capsys, "complete", f"{source}:2:5", "--max-prompt-tokens", "0")
    assert code != 0 and "--max-prompt-tokens" in err


def test_not_utf8(capsys, tmp_path):
    path = tmp_path / "latin.py"
    path.write_bytes(b"x = '\xe9t\xe9'\n")
    code, _, err = run(capsys, "complete", f"{path}:1:1")
    assert code == 1 and "not UTF-8" in one_line_error(err)


def test_generate_without_a_function(capsys, tmp_path):
    path = tmp_path / "done.py"
    path.write_text("def f():\n    return 1\n")
    code, _, err = run(capsys, "generate", str(path))
    assert code == 1 and "no function to write" in one_line_error(err)


def test_unknown_embedded_model_in_models(capsys):
    code, _, err = run(capsys, "models", "verify", "7b")
    assert code == 2 and "unknown embedded model '7b'" in one_line_error(err)


def test_models_list_shows_both_embedded_models(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0 and "0.5b" in out and "1.5b" in out and "1d9614638d18" in out


def test_unknown_monitor_names_the_choices(capsys, source):
    code, _, err = run(capsys, "complete", f"{source}:2:5", "--monitors", "dereference,typestate")
    assert code == 2 and "unknown monitor 'typestate'; choose from dereference, imports, arguments" in one_line_error(err)


def test_workspace_that_is_not_a_directory(capsys, source, tmp_path):
    code, _, err = run(capsys, "complete", f"{source}:2:5", "--workspace", str(tmp_path / "nowhere"))
    assert code == 1 and "is not a directory" in one_line_error(err)


def test_bench_mgd_needs_a_source_tree(capsys, tmp_path):
    code, _, err = run(capsys, "bench", "mgd", "--repo", str(tmp_path / "nowhere"))
    assert code == 2 and "is not a directory" in one_line_error(err)


def test_bench_lsp_checks_its_options_before_starting_a_server(capsys, source):
    code, _, err = run(capsys, "bench", "lsp", "--file", str(source), "--debounce-ms", "-5")
    assert code == 2 and "--debounce-ms must be an integer from 0 to 5000, got -5" in one_line_error(err)
    code, _, err = run(capsys, "bench", "lsp", "--file", str(source), "--start-line", "999")
    assert code == 2 and "is past the end of" in one_line_error(err)


def test_complete_takes_the_servers_prompt_window_and_generate_the_configs():
    from assistant.cli.main import _config, build_parser
    from assistant.config import AssistantConfig
    from lsp.options import ServerOptions

    complete = _config(build_parser().parse_args(["complete", "f.py:1:1"]))
    generate = _config(build_parser().parse_args(["generate", "f.py"]))
    assert complete.max_prompt_tokens == ServerOptions().max_prompt_tokens < AssistantConfig().max_prompt_tokens
    assert generate.max_prompt_tokens == AssistantConfig().max_prompt_tokens
    asked = _config(build_parser().parse_args(["complete", "f.py:1:1", "--max-prompt-tokens", "3000"]))
    assert asked.max_prompt_tokens == 3000


def test_every_option_flag_parses_to_the_config_the_schema_describes():
    from assistant.cli.main import _config, build_parser

    args = ["complete", "f.py:1:1", "--max-tokens", "7", "--no-healing", "--no-name-choice", "--language-server", "pyright", "--dtype", "BF16"]
    config = _config(build_parser().parse_args([*args, "--adadec", "--top-k", "2", "--syntactic-lookahead"]))
    assert (config.max_new_tokens, config.healing, config.dtype) == (7, False, "bfloat16")
    assert (config.monitors.choose_names, config.monitors.language_server) == (False, "pyright")
    assert (config.rerank.enabled, config.rerank.method, config.rerank.top_k, config.rerank.lookahead) == (True, "adadec", 2, 16)
    assert _config(build_parser().parse_args(["generate", "f.py", "--no-monitors", "--monitors", "imports"])).monitors.enabled == ()
    assert _config(build_parser().parse_args(["generate", "f.py", "--monitors", "imports"])).monitors.enabled == ("imports",)


def test_adadec_and_uscd_together_are_refused(capsys, source):
    code, _, err = run(capsys, "complete", f"{source}:2:5", "--adadec", "--uscd")
    assert code == 1 and "adadec and uscd are two decoders: choose one" in one_line_error(err)
