"""Resident memory of the language server's model process, dense against quantized weights.

`python -m benchmarks.serve_memory [--model 0.5b] [--file PATH]` loads the model as `guidecode
serve` does (its options' assistant configuration and warm-up), completes at a few places of a
file, and reports the process's resident and unique memory (psutil) afterwards: once with
`--weights dense` and once with `--weights auto`, each in a fresh child process so neither sees
the other's pages. Weights read through a file mapping count once touched, so the figures are
taken after real completions, not right after loading.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def measure(model: str, weights: str, path: Path, places: int) -> dict:
    import psutil

    from assistant.assistant import Assistant
    from lsp.options import ServerOptions

    from .environment import describe

    config = ServerOptions(model=model, weights=weights).assistant_config()
    assistant = Assistant.load(config)
    assistant.warm_up()
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    for i in range(places):  # the end of lines spread over the file
        line = (i + 1) * len(lines) // (places + 1)
        assistant.complete(text, sum(len(x) for x in lines[:line]) - 1, max_new_tokens=16)
    memory = psutil.Process().memory_full_info()
    return {
        "model": assistant.description,
        "weights": weights,
        "rss_mb": round(memory.rss / 1e6),
        "uss_mb": round(memory.uss / 1e6),
        "completions": places,
        "file": str(path),
        "machine": describe(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="0.5b")
    parser.add_argument("--file", type=Path, default=Path(__file__).with_name("speed.py"))
    parser.add_argument("--places", type=int, default=3)
    parser.add_argument("--weights", help="measure this one only, in this process")
    args = parser.parse_args()
    if args.weights:
        print(json.dumps(measure(args.model, args.weights, args.file, args.places)))
        return
    results = []
    for weights in ("dense", "auto"):
        command = [
            sys.executable,
            "-m",
            "benchmarks.serve_memory",
            "--model",
            args.model,
            "--file",
            str(args.file),
            "--places",
            str(args.places),
            "--weights",
            weights,
        ]
        results.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]))
    print(
        json.dumps(
            {"how": "fresh process per weights setting; server's assistant configuration, warm-up, then completions; psutil after", "runs": results}, indent=2
        )
    )


if __name__ == "__main__":
    main()
