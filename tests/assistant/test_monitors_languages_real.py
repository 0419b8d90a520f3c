"""Monitor-guided completions beyond Python, end to end: the real 0.5B model and the real language
servers (typescript-language-server, clangd, gopls) over workspaces whose type lives in another
file than the one being completed. The unguided model invents a member in each; guided, the
member exists."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from assistant import Assistant, AssistantConfig
from assistant.analysis import SERVERS
from assistant.analysis.installation import find_server_binary
from tests.assistant.test_monitors_real import first_identifier

pytestmark = pytest.mark.real_model

GEOMETRY_TS = textwrap.dedent(
    """\
    export class Polygon {
      constructor(private corners: number[]) {}

      perimeterLength(): number {
        return this.corners.reduce((a, b) => a + b, 0);
      }

      vertexTotal(): number {
        return this.corners.length;
      }
    }
    """
)
GEOMETRY_H = "#ifndef GEOMETRY_H\n#define GEOMETRY_H\n\nstruct polygon {\n    int corner_total;\n    double edge_sum;\n    double *corners;\n};\n\n#endif\n"
GO_MOD = "module example.com/geo\n\ngo 1.19\n"
GEOMETRY_GO = "package geo\n\ntype Polygon struct {\n\tCornerTotal int\n\tEdgeSum     float64\n}\n\nfunc (p Polygon) Scaled(k float64) Polygon { return p }\n"

TS_MEMBERS = {"perimeterLength", "vertexTotal"}  # `corners` is private
C_MEMBERS = {"corner_total", "edge_sum", "corners"}
GO_MEMBERS = {"CornerTotal", "EdgeSum", "Scaled"}

USE_TS = 'import { Polygon } from "./geometry";\n\nexport function describe(poly: Polygon): string {\n  const n = poly.'
USE_C = '#include "geometry.h"\n\nint describe(struct polygon *p)\n{\n    int n = p->'
USE_GO = "package geo\n\nfunc describe(p Polygon) int {\n\treturn p."


def workspace(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def complete_both_ways(assistant: Assistant, root: Path, name: str, text: str):
    unguided = assistant.complete(text, len(text))
    guided = assistant.complete(text, len(text), workspace=root, path=root / name)
    return unguided, guided


@pytest.mark.slow
def test_typescript_members_exist_where_the_unguided_model_invents_one(real_assistant, typescript_server, tmp_path):
    root = workspace(tmp_path, {"geometry.ts": GEOMETRY_TS, "app.ts": "// on disk: not what the editor holds\n"})
    unguided, guided = complete_both_ways(real_assistant, root, "app.ts", USE_TS)
    assert first_identifier(unguided.text) not in TS_MEMBERS  # the baseline (0.5B writes `points`)
    assert guided.monitored and guided.monitor_queries >= 1
    assert first_identifier(guided.text) in TS_MEMBERS
    assert (root / "app.ts").read_text() == "// on disk: not what the editor holds\n"  # never written


@pytest.mark.slow
def test_a_typescript_member_written_with_its_dot_in_one_token_is_checked(real_assistant, typescript_server, tmp_path):
    root = workspace(tmp_path, {"geometry.ts": GEOMETRY_TS})
    text = USE_TS[:-1]  # ends before the dot: the model writes ".<member>" as one token
    guided = real_assistant.complete(text, len(text), workspace=root, path=root / "app.ts")
    assert guided.text.startswith(".") and first_identifier(guided.text[1:]) in TS_MEMBERS


@pytest.mark.slow
@pytest.mark.skipif(find_server_binary("clangd") is None, reason=f"clangd is not installed ({SERVERS['clangd'].hint})")
def test_c_members_after_an_arrow_exist(real_assistant, tmp_path):
    root = workspace(tmp_path, {"geometry.h": GEOMETRY_H})
    unguided, guided = complete_both_ways(real_assistant, root, "app.c", USE_C)
    assert first_identifier(unguided.text) not in C_MEMBERS  # the baseline (0.5B writes `num_vertices`)
    assert guided.monitored and first_identifier(guided.text) in C_MEMBERS


@pytest.mark.slow
@pytest.mark.skipif(find_server_binary("gopls") is None, reason=f"gopls is not installed ({SERVERS['gopls'].hint})")
def test_go_members_exist(real_assistant, tmp_path):
    root = workspace(tmp_path, {"go.mod": GO_MOD, "geometry.go": GEOMETRY_GO})
    guided = real_assistant.complete(USE_GO, len(USE_GO), workspace=root, path=root / "describe.go")
    assert guided.monitored and first_identifier(guided.text) in GO_MEMBERS


@pytest.mark.slow
def test_speculation_stays_lossless_under_the_typescript_monitors(exact_real_model, typescript_server, tmp_path):
    root = workspace(tmp_path, {"geometry.ts": GEOMETRY_TS})
    text = 'import { Polygon } from "./geometry";\n\nexport function report(polygons: Polygon[]): string[] {\n  return polygons.map((poly) => {\n'
    assistant = Assistant(exact_real_model, AssistantConfig())
    try:
        results = []
        for speculation in (False, True):
            assistant.config = dataclasses.replace(assistant.config, speculation=speculation)
            results.append(assistant.complete(text, len(text), max_new_tokens=48, workspace=root, path=root / "app.ts"))
        assert assistant.speculating and all(r.monitored for r in results)
        assert results[0].text == results[1].text
    finally:
        assistant.close()
