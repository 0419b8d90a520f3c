"""Files derived from the options schema (assistant/options.py): the VS Code extension's settings
(`contributes.configuration.properties` in vscode-ext/package.json), its typed defaults and rules
(vscode-ext/src/options.generated.ts) and the table in docs/configuration.md.

    python -m assistant.options_files          # rewrite the extension's two files
    python -m assistant.options_files --check  # exit 1 if either is stale (the tests do this)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .options import EDITOR, Option, in_scope

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_JSON = ROOT / "vscode-ext" / "package.json"
OPTIONS_TS = ROOT / "vscode-ext" / "src" / "options.generated.ts"
SECTION = "guidecode"
_JSON_TYPE = {bool: "boolean", int: "integer", float: "number", str: "string"}
_TS_TYPE = {bool: "boolean", int: "number", float: "number", str: "string"}
# The extension's own settings, which the server never receives.
_CLIENT_ONLY = (f"{SECTION}.server.", f"{SECTION}.trace.", f"{SECTION}.languages")


def _rules(option: Option) -> dict[str, Any]:
    """The JSON-schema type and the limits of a value, as both the manifest and the extension's code read them."""
    spec: dict[str, Any] = {"type": _JSON_TYPE[option.kind]}
    if option.choices:
        spec["enum"] = list(option.choices)
    if option.low is not None:
        spec["minimum"] = option.low
    if option.high is not None:
        spec["maximum"] = option.high
    return spec


def _property(option: Option) -> dict[str, Any]:
    spec = {**_rules(option), "default": option.default_in("editor")}
    if option.choice_help:
        spec["enumDescriptions"] = list(option.choice_help)
    return {**spec, "description": option.help}


def settings_properties(existing: dict[str, Any]) -> dict[str, Any]:
    """The extension's settings: one per editor option, then the extension's own (how it starts the
    server, tracing, the languages it serves), kept as they are in `existing`."""
    generated = {f"{SECTION}.{option.key}": _property(option) for option in in_scope("editor")}
    own = {key: spec for key, spec in existing.items() if key.startswith(_CLIENT_ONLY)}
    return {**generated, **own}


def package_json(text: str) -> str:
    manifest = json.loads(text)
    properties = manifest["contributes"]["configuration"]["properties"]
    manifest["contributes"]["configuration"]["properties"] = settings_properties(properties)
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def options_ts() -> str:
    """The editor options' rules and defaults, and the type of the object the server receives."""
    options = in_scope("editor")
    specs = ",\n".join(f"    {json.dumps(_ts_spec(o))}" for o in options)
    return "\n".join(
        [
            "// Generated from assistant/options.py by `python -m assistant.options_files`; do not edit.",
            "",
            "export interface OptionSpec {",
            "    key: string;",
            "    type: 'boolean' | 'integer' | 'number' | 'string';",
            "    enum?: readonly string[];",
            "    minimum?: number;",
            "    maximum?: number;",
            "}",
            "",
            "/** The options object the server receives (initializationOptions and didChangeConfiguration). */",
            "export interface GuidecodeOptions {",
            *_ts_fields(options),
            "}",
            "",
            "export const OPTION_SPECS: readonly OptionSpec[] = [",
            specs + ",",
            "];",
            "",
            f"export const OPTION_DEFAULTS: GuidecodeOptions = {json.dumps(_nested(options, lambda o: o.default_in('editor')))};",
            "",
        ]
    )


def _ts_spec(option: Option) -> dict[str, Any]:
    return {"key": option.key, **_rules(option)}


def _ts_type(option: Option) -> str:
    return " | ".join(f"'{choice}'" for choice in option.choices) if option.choices else _TS_TYPE[option.kind]


def _ts_fields(options: tuple[Option, ...]) -> list[str]:
    tree = _nested(options, _ts_type)
    lines = []
    for key, value in tree.items():
        if isinstance(value, dict):
            inner = " ".join(f"{k}: {v};" for k, v in value.items())
            lines.append(f"    {key}: {{ {inner} }};")
        else:
            lines.append(f"    {key}: {value};")
    return lines


def _nested(options: tuple[Option, ...], value) -> dict[str, Any]:
    """{key: value(option)}, with a dotted key as a nested object (`guides.healing`)."""
    tree: dict[str, Any] = {}
    for option in options:
        head, _, tail = option.key.partition(".")
        if tail:
            tree.setdefault(head, {})[tail] = value(option)
        else:
            tree[head] = value(option)
    return tree


def markdown_table() -> str:
    """Every option: its flag, its editor setting, default(s), range and what it does."""
    rows = ["| option | CLI flag | editor setting | default | values | what it does |", "|---|---|---|---|---|---|"]
    for option in in_scope("cli") + tuple(o for o in in_scope("editor") if o.scopes == EDITOR):
        rows.append(
            f"| `{option.name}` | {_cell(option.cli_flag if 'cli' in option.scopes else '')} "
            f"| {_cell(f'{SECTION}.{option.key}' if 'editor' in option.scopes else '')} | {_defaults(option)} | {_values(option)} | {option.help} |"
        )
    return "\n".join(rows)


def _cell(text: str) -> str:
    return f"`{text}`" if text else ""


def _defaults(option: Option) -> str:
    cli, editor = option.default_in("cli"), option.default_in("editor")
    if option.scopes == EDITOR:
        return _shown(editor)
    if "editor" in option.scopes and editor != cli:
        return f"{_shown(cli)} (editor: {_shown(editor)})"
    return _shown(cli)


def _shown(value: Any) -> str:
    return "not set" if value is None else f"`{json.dumps(value)}`"


def _values(option: Option) -> str:
    if option.choices:
        return ", ".join(f"`{choice}`" for choice in option.choices)
    if option.kind is bool:
        return "on/off"
    if option.kind is str:
        return "text"
    return option.describe_range()


def stale() -> list[Path]:
    """The generated files that differ from what the schema gives."""
    wanted = {PACKAGE_JSON: package_json(PACKAGE_JSON.read_text()), OPTIONS_TS: options_ts()}
    return [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]


def write() -> list[Path]:
    changed = stale()
    for path in changed:
        path.write_text(package_json(path.read_text()) if path == PACKAGE_JSON else options_ts())
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assistant.options_files", description="Write the files derived from the options schema.")
    parser.add_argument("--check", action="store_true", help="exit 1 when a generated file is stale; change nothing")
    args = parser.parse_args(argv)
    paths = stale() if args.check else write()
    for path in paths:
        print(f"{'stale' if args.check else 'wrote'}: {path.relative_to(ROOT)}")
    if args.check and paths:
        print("run: python -m assistant.options_files", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
