"""The VS Code extension's settings (package.json) against the language server's options
(lsp/options.py): what the extension sends by default, and at the ends of each declared range, the
server takes without a complaint; one step past either end, it refuses. No npm needed."""

import json
from pathlib import Path

import pytest

from lsp.options import ServerOptions, parse_options

MANIFEST = Path(__file__).resolve().parents[2] / "vscode-ext" / "package.json"
PROPERTIES = json.loads(MANIFEST.read_text())["contributes"]["configuration"]["properties"]
# What the extension keeps for itself (how to launch the server, tracing, the languages it serves): serverOptionsOf drops them.
OWN = ("guidecode.server.", "guidecode.trace.", "guidecode.languages")
SENT = {key.removeprefix("guidecode."): spec for key, spec in PROPERTIES.items() if not key.startswith(OWN)}


def options(key: str, value) -> dict:
    """The object the extension sends with `key` (dotted: guides.healing) set to `value`."""
    head, _, tail = key.partition(".")
    return {head: {tail: value}} if tail else {head: value}


def test_the_defaults_the_extension_sends_are_the_servers_defaults():
    sent: dict = {}
    for key, spec in SENT.items():
        for head, value in options(key, spec["default"]).items():
            sent[head] = {**sent.get(head, {}), **value} if isinstance(value, dict) else value
    parsed, problems = parse_options(sent)
    assert problems == [] and parsed == ServerOptions()


RANGED = [(key, spec) for key, spec in SENT.items() if "minimum" in spec or "maximum" in spec]


@pytest.mark.parametrize(("key", "spec"), RANGED, ids=[key for key, _ in RANGED])
def test_each_declared_range_is_the_servers(key, spec):
    step = 1 if spec["type"] == "integer" else 0.5
    for end, past in (("minimum", -step), ("maximum", step)):
        if end in spec:
            assert parse_options(options(key, spec[end]))[1] == [], (key, end)
            assert len(parse_options(options(key, spec[end] + past))[1]) == 1, (key, end)


def test_the_search_settings_are_declared():
    assert {"search", "searchRollouts", "searchSeconds", "searchTemperature"} <= SENT.keys()
