"""Monitor-guided completions end to end: the real 0.5B model, the real jedi-language-server,
a workspace whose class lives in another file than the one being completed."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from assistant import Assistant, AssistantConfig
from assistant.config import MonitorConfig

pytestmark = pytest.mark.real_model

GEOMETRY = textwrap.dedent(
    """\
    class Polygon:
        def __init__(self, points):
            self.points = list(points)

        def perimeter_length(self):
            return sum(abs(a - b) for a, b in zip(self.points, self.points[1:]))

        def vertex_count(self):
            return len(self.points)
    """
)
MEMBERS = {"points", "perimeter_length", "vertex_count"} | set(dir(object))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("ws")
    (root / "geometry.py").write_text(GEOMETRY)
    (root / "app.py").write_text("# on disk: not what the editor holds\n")
    return root


@pytest.fixture(scope="module")
def exact_assistant(real_assistant, exact_real_model):
    """For the speculation tests: an assistant whose engine verifies exactly (the same one where
    the default dtype's does)."""
    if exact_real_model is real_assistant.loaded:
        yield real_assistant
        return
    other = Assistant(exact_real_model, AssistantConfig())
    yield other
    other.close()


def first_identifier(text: str) -> str:
    name = ""
    for c in text:
        if not (c.isalnum() or c == "_"):
            break
        name += c
    return name


def test_a_member_written_after_a_dot_exists_where_the_unguided_model_invents_one(real_assistant, workspace):
    text = "from geometry import Polygon\n\n\ndef describe(poly: Polygon) -> str:\n    n = poly."
    unguided = real_assistant.complete(text, len(text))
    guided = real_assistant.complete(text, len(text), workspace=workspace, path=workspace / "app.py")
    assert first_identifier(unguided.text) not in MEMBERS  # the baseline this test is about (0.5B writes `area`)
    assert guided.monitored and guided.monitor_queries >= 1
    assert first_identifier(guided.text) in MEMBERS
    assert (workspace / "app.py").read_text() == "# on disk: not what the editor holds\n"  # never written


def test_a_cross_token_dot_is_checked_too(real_assistant, workspace):
    # The prompt ends before the dot: the model writes ".<member>" as one token, which only
    # `refine` can check (the monitor has no trigger yet when the step starts).
    text = "from geometry import Polygon\n\n\ndef describe(poly: Polygon) -> str:\n    n = poly"
    guided = real_assistant.complete(text, len(text), workspace=workspace, path=workspace / "app.py")
    assert guided.text.startswith(".") and first_identifier(guided.text[1:]) in MEMBERS
    assert guided.monitor_rejections >= 1


def test_imports_name_what_the_workspace_has(real_assistant, workspace):
    text = "from geometry import "
    guided = real_assistant.complete(text, len(text), workspace=workspace, path=workspace / "app.py")
    assert first_identifier(guided.text) == "Polygon"


def test_speculation_stays_lossless_under_the_monitors(exact_assistant, workspace):
    assistant = exact_assistant
    text = textwrap.dedent(
        """\
        from geometry import Polygon


        def report(polygons: list[Polygon]) -> list[str]:
            out = []
            for poly in polygons:
        """
    )
    plain = dataclasses.replace(assistant.config, speculation=False)
    results = []
    for config in (plain, assistant.config):
        assistant.config = config
        results.append(assistant.complete(text, len(text), max_new_tokens=48, workspace=workspace, path=workspace / "app.py"))
    assistant.config = dataclasses.replace(plain, speculation=True)
    assert assistant.speculating and results[0].monitored and results[1].monitored
    assert results[0].text == results[1].text
    assert results[1].forward_passes <= results[0].forward_passes


def test_monitors_switched_off_leave_the_completion_unguided(real_assistant, workspace):
    text = "from geometry import Polygon\n\n\ndef describe(poly: Polygon) -> str:\n    n = poly."
    real_assistant.monitors.config = MonitorConfig(enabled=())
    try:
        off = real_assistant.complete(text, len(text), workspace=workspace, path=workspace / "app.py")
    finally:
        real_assistant.monitors.config = MonitorConfig()
    assert not off.monitored and off.text == real_assistant.complete(text, len(text)).text


def test_where_the_model_invents_a_member_the_whole_name_choice_decides_the_same_with_or_without_speculation(exact_assistant, workspace):
    assistant = exact_assistant
    text = "from geometry import Polygon\n\n\ndef describe(poly: Polygon) -> str:\n    n = poly."
    results = []
    for speculation in (False, True):
        assistant.config = dataclasses.replace(assistant.config, speculation=speculation)
        results.append(assistant.complete(text, len(text), workspace=workspace, path=workspace / "app.py"))
    assert assistant.speculating and all(r.paused_steps >= 1 for r in results)  # the model's first choice was not listed
    assert results[0].text == results[1].text and first_identifier(results[0].text) in MEMBERS
    assistant.monitors.config = MonitorConfig(choose_names=False)
    try:
        masked = assistant.complete(text, len(text), workspace=workspace, path=workspace / "app.py")
    finally:
        assistant.monitors.config = MonitorConfig()
    assert masked.paused_steps == 0 and first_identifier(masked.text) in MEMBERS
