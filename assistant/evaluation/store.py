"""A run folder: config.json (the settings that change results), samples.jsonl (one record per
(task, sample), appended as each finishes, so an interrupted run loses only what was in flight),
decoder.json (what the decoder said of itself: model, dtype, device, speculation; so a run with
nothing left to do is summarized without loading the model) and summary.json (written once every
task has its records).

One process writes a run folder: `guidecode eval`, also when its tasks run on Ray workers (the
driver appends what they return; assistant/evaluation/distributed.py).

A record: task_id, sample, completion, program, tokens, seconds, stop_reason, seed, and the
sandbox's result as a dict.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import GuidecodeError

CONFIG, SAMPLES, DECODER, SUMMARY = "config.json", "samples.jsonl", "decoder.json", "summary.json"

Key = tuple[str, int]  # (task_id, sample)


class RunStore:
    def __init__(self, root: Path):
        self.root = root

    @classmethod
    def open(cls, root: Path, settings: dict) -> RunStore:
        """The run folder for `settings`: new, or an earlier run with the same settings to resume."""
        store = cls(root)
        if root.exists() and not root.is_dir():
            raise GuidecodeError(f"--out {root} is a file; pick a folder for the run")
        config = root / CONFIG
        # Checked before anything is made: a folder of the user's gets nothing written into it.
        if root.is_dir() and not config.is_file() and any(root.iterdir()):
            raise GuidecodeError(f"--out {root} is a folder that holds no eval run ({CONFIG} is missing); pick an empty or new folder")
        root.mkdir(parents=True, exist_ok=True)
        if config.is_file():
            _check_same(root, _read_json(config), settings)
        else:
            config.write_text(json.dumps(settings, indent=2) + "\n")
        return store

    def records(self) -> dict[Key, dict]:
        """The records saved so far. A last line cut short by a crash is dropped (and cut from the
        file, so that appending goes on from a whole line)."""
        path = self.root / SAMPLES
        if not path.is_file():
            return {}
        text = path.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]
            path.write_text(text, encoding="utf-8")
        records = {}
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise GuidecodeError(f"{path}, line {number} is not a record; pick another --out or delete that folder") from None
            records[(record["task_id"], record["sample"])] = record
        return records

    def append(self, record: dict) -> None:
        # One write of one whole line, opened per record: nothing is held open across a crash.
        with open(self.root / SAMPLES, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def write_summary(self, summary: dict) -> None:
        self._write_whole(SUMMARY, summary)

    def described(self) -> dict | None:
        """What the decoder said of itself when it last ran here (None: not saved, e.g. an older run)."""
        try:
            described = json.loads((self.root / DECODER).read_text())
        except (OSError, ValueError):
            return None
        return described if isinstance(described, dict) else None

    def save_described(self, described: dict) -> None:
        self._write_whole(DECODER, described)

    def _write_whole(self, name: str, data: dict) -> None:
        # Written aside and renamed: a crash mid-write leaves the earlier whole file.
        partial = self.root / f"{name}.{os.getpid()}.partial"
        partial.write_text(json.dumps(data, indent=2) + "\n")
        partial.replace(self.root / name)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise GuidecodeError(f"{path} is not the settings of an eval run; pick another --out") from None


def _check_same(root: Path, saved: dict, settings: dict) -> None:
    differ = [key for key in sorted(saved.keys() | settings.keys()) if saved.get(key) != settings.get(key)]
    if differ:
        details = "; ".join(f"{key}: {saved.get(key)!r} there, {settings.get(key)!r} now" for key in differ)
        raise GuidecodeError(f"--out {root} holds a run with other settings ({details}); pick another --out, or delete that folder to start over")
