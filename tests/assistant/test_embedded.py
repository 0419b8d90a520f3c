import concurrent.futures
import hashlib

import pytest

from assistant import embedded


def fake_model(tmp_path, monkeypatch, parts: list[bytes], sha256: str | None = None) -> embedded.EmbeddedModel:
    for n, data in enumerate(parts, start=1):
        package = tmp_path / "site" / f"fake_model_part{n}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{n:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("GUIDECODE_CACHE", str(tmp_path / "cache"))
    whole = b"".join(parts)
    return embedded.EmbeddedModel(
        "fake",
        "Fake-Model",
        "fake_model_part{n}",
        "data/part{n:02d}.bin",
        len(parts),
        len(whole),
        sha256 or hashlib.sha256(whole).hexdigest(),
        "models",
    )


def test_assembly_concatenates_in_order_and_verifies(tmp_path, monkeypatch):
    model = fake_model(tmp_path, monkeypatch, [b"GGUF", b"-part-two", b"-three"])
    seen = []
    path = embedded.assemble(model, on_progress=seen.append)
    assert path.read_bytes() == b"GGUF-part-two-three"
    assert sum(seen) == model.size
    assert embedded.is_assembled(model)
    embedded.verify(model)


def test_a_checksum_mismatch_is_an_error_and_leaves_nothing_to_load(tmp_path, monkeypatch):
    model = fake_model(tmp_path, monkeypatch, [b"GGUF", b"tampered"], sha256="0" * 64)
    with pytest.raises(embedded.ChecksumMismatch, match="does not match its published checksum"):
        embedded.assemble(model)
    assert not embedded.gguf_path(model).exists()
    assert not embedded.is_assembled(model)


def test_a_changed_part_forces_reassembly(tmp_path, monkeypatch):
    model = fake_model(tmp_path, monkeypatch, [b"GGUF", b"data"])
    embedded.assemble(model)
    part = embedded.part_paths(model)[1]
    part.write_bytes(b"DATA")
    assert not embedded.is_assembled(model)
    with pytest.raises(embedded.ChecksumMismatch):
        embedded.assemble(model)


def test_a_missing_part_names_the_extra_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("GUIDECODE_CACHE", str(tmp_path))
    model = embedded.EmbeddedModel("x", "X", "no_such_package_part{n}", "data/part{n:02d}.bin", 2, 1, "0" * 64, "models")
    with pytest.raises(embedded.ModelNotInstalled, match=r"pip install 'guidecode\[models\]'"):
        embedded.part_paths(model)


def test_lookup_accepts_the_names_users_type():
    assert embedded.lookup("0.5B").name == "0.5b"
    assert embedded.lookup("Qwen2.5-Coder-1.5B-Instruct").name == "1.5b"
    assert embedded.lookup("default").name == embedded.DEFAULT_MODEL
    assert embedded.lookup("gpt-4") is None


def test_a_process_arriving_while_another_assembles_waits_and_uses_its_file(tmp_path, monkeypatch):
    from filelock import FileLock

    from assistant.loading import prepare_embedded

    from .waiting import Told

    model = fake_model(tmp_path, monkeypatch, [b"GGUF", b"-two"])
    assembled = []
    real_assemble = embedded.assemble
    monkeypatch.setattr(embedded, "assemble", lambda m, on_progress=None: assembled.append(m) or real_assemble(m, on_progress))
    embedded.model_dir(model).mkdir(parents=True)
    other = FileLock(str(embedded.model_dir(model) / "assemble.lock"))  # the other process, mid-assembly
    other.acquire()
    progress = Told()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        arriving = pool.submit(prepare_embedded, model, progress)
        assert progress.waiting.wait(timeout=60)  # it waits for the lock rather than writing the same file
        real_assemble(model)  # what the other process writes meanwhile
        other.release()
        assert arriving.result(timeout=60).read_bytes() == b"GGUF-two"
    assert assembled == []  # it found the other's file, and did not write it again
