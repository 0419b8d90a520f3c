"""Which workspace the monitors analyse, and their options."""

import pytest

from assistant.config import MonitorConfig
from assistant.errors import GuidecodeError
from assistant.monitoring import project_root


def test_the_project_root_is_the_nearest_folder_with_a_project_marker(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    nested = tmp_path / "src" / "pkg"
    nested.mkdir(parents=True)
    assert project_root(nested / "mod.py") == tmp_path.resolve()


def test_without_a_marker_the_files_folder_is_the_workspace(tmp_path):
    folder = tmp_path / "loose"
    folder.mkdir()
    assert project_root(folder / "script.py") == folder.resolve()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"enabled": ("dereference", "typestate")}, "unknown monitor 'typestate'"),
        ({"language_server": "pylance"}, "language_server must be one of jedi, pyright, got 'pylance'"),
        ({"budget_s": 0}, "latency budget must be positive"),
    ],
)
def test_bad_monitor_options_are_rejected_with_a_message(kwargs, message):
    with pytest.raises(GuidecodeError, match=message):
        MonitorConfig(**kwargs)


def test_monitors_stay_off_for_a_language_their_servers_do_not_analyse(tmp_path):
    from assistant.monitoring import Monitors

    monitors = Monitors(vocabulary=None)  # never read: no session starts for a Rust file
    for _ in range(2):
        assert monitors.guide_for(tmp_path, tmp_path / "shapes.rs", "c.", "") is None
    assert monitors.notes == ["monitors off for rust documents: no language server for them here; completing unguided"]
    assert monitors._sessions == {}  # no language server was started


def test_the_analysis_client_opens_each_document_under_the_language_the_assistant_detects():
    # The client keeps its own suffix table (it imports nothing above it): the two must agree.
    from assistant.analysis.registry import LANGUAGE_IDS
    from assistant.languages import detect

    assert {suffix: detect(f"file{suffix}").name for suffix in LANGUAGE_IDS} == dict(LANGUAGE_IDS)


def test_each_language_gets_its_own_server_and_lexer(tmp_path):
    from assistant.languages import detect
    from assistant.monitoring import _LEXERS, Monitors

    monitors = Monitors(vocabulary=None)
    servers = {
        name: monitors.server_for(detect(f"a{suffix}"))
        for name, suffix in [("py", ".py"), ("ts", ".ts"), ("js", ".js"), ("c", ".c"), ("cpp", ".cpp"), ("go", ".go"), ("rs", ".rs")]
    }
    assert servers == {"py": "jedi", "ts": "typescript", "js": "typescript", "c": "clangd", "cpp": "clangd", "go": "gopls", "rs": None}
    assert _LEXERS["cpp"]().feed(":") is None and set(_LEXERS) >= {"python", "c", "cpp", "rust"}
