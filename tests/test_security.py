"""Security: nothing the project reads is unpickled or executed, and a manifest cannot make preparation write
outside its output directory. Every "malicious" file here would create a marker file if it ever ran; each test
first shows that its payload is live (unpickling it for real does create a marker), then that loading refuses it.
"""
from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from scraps.export import ModelDirError
from scraps.training import checkpoint as ckpt

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("scraps", "tts", "recipes", "bench")


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: code from the file runs and leaves a file behind."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _live(make_bytes, tmp_path: Path) -> None:
    """The control: really unpickling the payload (as an unsafe loader would) creates its marker."""
    probe = tmp_path / "probe-marker"
    data = make_bytes(probe)
    pickle.loads(data) if data[:2] != b"PK" else torch.load(io.BytesIO(data), weights_only=False)
    assert probe.exists()
    probe.unlink()


def _raw_pickle(marker: Path) -> bytes:
    return pickle.dumps({"state": {}, "param_groups": [], "x": _Payload(marker)})


def _torch_zip_pickle(marker: Path) -> bytes:
    buf = io.BytesIO()
    torch.save({"state": {}, "param_groups": [], "x": _Payload(marker)}, buf)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------ the code
def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def _kw(call: ast.Call, name: str):
    for k in call.keywords:
        if k.arg == name:
            return k.value.value if isinstance(k.value, ast.Constant) else ast.unparse(k.value)
    return None


def test_no_code_path_unpickles_or_executes_what_it_reads():
    """torch.load only with weights_only=True; no pickle-family modules, unsafe YAML, pickled numpy, eval/exec,
    os.system or shell=True anywhere in the packages."""
    problems = []
    files = [p for pkg in PACKAGES if (REPO / pkg).is_dir() for p in sorted((REPO / pkg).rglob("*.py"))]
    assert len(files) > 20
    for path in files:
        where = path.relative_to(REPO)
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name.split(".")[0] in {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve",
                                          "marshal"} or name in {"torch.load", "numpy.load"}:
                    problems.append(f"{where}:{node.lineno} imports {name}")
        for call, func in _calls(tree):
            line = f"{where}:{call.lineno} {func}(...)"
            if func.endswith("torch.load") and _kw(call, "weights_only") is not True:
                problems.append(f"{line} without weights_only=True")
            if func in {"np.load", "numpy.load"} and _kw(call, "allow_pickle") not in (None, False):
                problems.append(f"{line} with allow_pickle")
            if func in {"yaml.load", "yaml.load_all"} and "SafeLoader" not in str(_kw(call, "Loader")):
                problems.append(f"{line} without a SafeLoader")
            if func in {"yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all", "yaml.full_load_all",
                        "eval", "exec", "os.system", "os.popen", "torch.jit.load"} or func.endswith("read_pickle"):
                problems.append(line)
            if _kw(call, "shell") not in (None, False):
                problems.append(f"{line} with shell=True")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------------------ model dirs
def _scraps_dir(path: Path) -> Path:
    from scraps.model import ScrapsConfig, ScrapsModel
    from scraps.nn.config import EncoderConfig
    from scraps.text import PhonemeVocab

    vocab = PhonemeVocab.default("espeak")
    enc = EncoderConfig(dim=16, layers=1, heads=2)
    ScrapsModel(ScrapsConfig(vocab_size=len(vocab), phonetic=enc, acoustic=enc, integrator_dim=16, embed_dim=16)
                ).save_pretrained(path, vocab)
    return path


def _tts_dir(path: Path) -> Path:
    from scraps.nn.config import EncoderConfig
    from scraps.text import PhonemeVocab
    from tts.decoder import DecoderConfig
    from tts.model import TTSConfig, TTSModel

    vocab = PhonemeVocab.default("espeak")
    dec = DecoderConfig(dim=16, layers=1, heads=2, prenet_dim=16, postnet_channels=16, postnet_layers=2)
    TTSModel(TTSConfig(vocab_size=len(vocab), encoder=EncoderConfig(dim=16, layers=1, heads=2), decoder=dec,
                       n_speakers=2, speaker_dim=4)).save_pretrained(path, vocab, ["a", "b"])
    return path


def _loader(stage: str):
    if stage == "scraps":
        from scraps import ScrapsModel

        return _scraps_dir, ScrapsModel.from_pretrained
    from tts.model import TTSModel

    return _tts_dir, TTSModel.from_pretrained


@pytest.mark.parametrize("payload", [_raw_pickle, _torch_zip_pickle])
@pytest.mark.parametrize("stage", ["scraps", "tts"])
def test_a_pickle_named_model_safetensors_cannot_run_code(stage, payload, tmp_path):
    _live(payload, tmp_path)
    make, load = _loader(stage)
    model_dir = make(tmp_path / "model")
    load(model_dir)  # the genuine directory loads
    marker = tmp_path / "MARKER"
    (model_dir / "model.safetensors").write_bytes(payload(marker))
    with pytest.raises(ModelDirError, match="cannot read weights .*model.safetensors"):
        load(model_dir)
    assert not marker.exists()


@pytest.mark.parametrize("stage", ["scraps", "tts"])
def test_a_yaml_tag_in_a_model_config_cannot_run_code(stage, tmp_path):
    make, load = _loader(stage)
    model_dir = make(tmp_path / "model")
    marker = tmp_path / "MARKER"
    evil = f"model_type: !!python/object/apply:builtins.open [{json.dumps(str(marker))}, w]\n"
    with pytest.raises(yaml.constructor.ConstructorError):  # the control: a full loader would run it
        yaml.safe_load(evil)
    yaml.unsafe_load(evil)["model_type"].close()
    assert marker.exists()
    marker.unlink()
    config = model_dir / "config.yaml"
    config.write_text(evil + config.read_text().split("\n", 1)[1])
    with pytest.raises(ModelDirError, match=f"cannot parse {config}"):
        load(model_dir)
    assert not marker.exists()


def test_a_yaml_tag_in_a_recipe_config_cannot_run_code(tmp_path):
    from scraps.training.config import ConfigError, load_config
    from scraps.task import ScrapsRecipeConfig

    marker = tmp_path / "MARKER"
    path = tmp_path / "recipe.yaml"
    path.write_text(f"exp_dir: !!python/object/apply:builtins.open [{json.dumps(str(marker))}, w]\n")
    with pytest.raises(ConfigError, match=f"cannot parse config {path}"):
        load_config(ScrapsRecipeConfig, path, [])
    assert not marker.exists()


# ------------------------------------------------------------------------------------------------ checkpoints
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("payload", [_raw_pickle, _torch_zip_pickle])
def test_a_code_running_optimizer_pt_is_refused_and_resume_skips_it(payload, tmp_path, caplog):
    from scraps.training.loop import _resume, make_scheduler
    from scraps.training.config import TrainConfig
    from omegaconf import OmegaConf

    _live(payload, tmp_path)
    root = tmp_path / "checkpoints"
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    sched = make_scheduler(opt, OmegaConf.structured(TrainConfig))
    for step in (1, 2):
        ckpt.write_main_files(ckpt.tmp_dir(root, step), model.state_dict(), opt.state_dict(), sched.state_dict(),
                              {"step": step}, "")
        ckpt.publish(ckpt.tmp_dir(root, step), ckpt.step_dir(root, step), keep_last=5)
    # the newest one's optimizer.pt becomes a code-running pickle, its recorded hash updated to match, so that
    # only the loader itself stands between the file and the code
    marker = tmp_path / "MARKER"
    evil = ckpt.step_dir(root, 2) / "optimizer.pt"
    evil.write_bytes(payload(marker))
    complete = ckpt.step_dir(root, 2) / ckpt.COMPLETE
    manifest = json.loads(complete.read_text())
    manifest["files"]["optimizer.pt"] = {"size": evil.stat().st_size,
                                         "sha256": hashlib.sha256(evil.read_bytes()).hexdigest()}
    complete.write_text(json.dumps(manifest))

    with pytest.raises(ckpt.CheckpointError, match=f"checkpoint file {evil} is unreadable"):
        ckpt.load_checkpoint(ckpt.step_dir(root, 2))
    fresh = torch.nn.Linear(3, 2)
    fresh_opt = torch.optim.AdamW(fresh.parameters())
    state = _resume(fresh, fresh_opt, make_scheduler(fresh_opt, OmegaConf.structured(TrainConfig)), root)
    assert state is not None and state.step == 1
    assert torch.equal(fresh.weight, model.weight)
    assert any(r.getMessage().startswith("skipping damaged checkpoint step-00000002: checkpoint file ")
               for r in caplog.records)
    assert not marker.exists()


# ------------------------------------------------------------------------------------------------ vocoder dirs
def test_a_vocos_config_cannot_reach_other_code_through_a_vocos_helper(tmp_path):
    from safetensors.torch import save_file
    from tts.vocoder import VOCOS_MEL_24KHZ_CONFIG, VocoderError, load_vocos_dir

    marker = tmp_path / "MARKER"
    config = json.loads(json.dumps(VOCOS_MEL_24KHZ_CONFIG))
    config["head"] = {"class_path": "vocos.pretrained.instantiate_class", "init_args": {
        "args": str(marker), "init": {"class_path": "builtins.open", "init_args": {"mode": "w"}}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    save_file({"x": torch.zeros(1)}, str(tmp_path / "model.safetensors"))
    try:
        load_vocos_dir(tmp_path)
    except VocoderError:
        pass
    assert not marker.exists()


def test_a_vocos_config_naming_a_foreign_class_is_refused(tmp_path):
    from safetensors.torch import save_file
    from tts.vocoder import VOCOS_MEL_24KHZ_CONFIG, VocoderError, load_vocos_dir

    marker = tmp_path / "MARKER"
    config = json.loads(json.dumps(VOCOS_MEL_24KHZ_CONFIG))
    config["head"] = {"class_path": "builtins.open", "init_args": {"file": str(marker), "mode": "w"}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    save_file({"x": torch.zeros(1)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(VocoderError, match="not a vocos class"):
        load_vocos_dir(tmp_path)
    assert not marker.exists()


# ------------------------------------------------------------------------------------------------ manifests
def _snapshot(root: Path, skip: Path) -> dict[str, tuple]:
    """Every path under ``root`` except ``skip``, with its kind, size and modification time."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip or skip in Path(dirpath).parents:
            continue
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p == skip:
                continue
            st = p.lstat()
            out[str(p)] = (st.st_mode, st.st_size if not p.is_dir() else 0, st.st_mtime_ns if not p.is_dir() else 0)
    return out


def _unblock_on_open(fifo: Path) -> threading.Thread:
    """A writer for ``fifo`` that closes at once, so that a reader that opens it by mistake reads nothing
    instead of waiting forever (the test then fails on the counts instead of hanging)."""
    thread = threading.Thread(target=lambda: open(fifo, "wb").close(), daemon=True)
    thread.start()
    return thread


def _release(fifo: Path, writer: threading.Thread) -> None:
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer's open() return if nobody read
    writer.join(10)
    os.close(fd)


def test_manifest_paths_are_only_read_never_run_and_nothing_is_written_outside_out_dir(tmp_path, monkeypatch):
    from scraps.data.prepare import prepare_csv, prepare_ljspeech
    from scraps.text import TextFrontend

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    corpus, outside = tmp_path / "corpus", tmp_path / "outside"
    (corpus / "wavs").mkdir(parents=True)
    outside.mkdir()
    tone = (0.3 * np.sin(np.arange(12000) / 10)).astype(np.float32)
    good = ["a.wav", "b.wav", "c.wav", "$(touch PWNED).wav", "`touch PWNED`.wav", "x;touch PWNED.wav"]
    for name in good:
        sf.write(corpus / "wavs" / name, tone, 24000)
    sf.write(outside / "escape.wav", tone, 24000)
    fifo = corpus / "wavs" / "fifo.wav"
    os.mkfifo(fifo)
    (corpus / "wavs" / "link_to_zero.wav").symlink_to("/dev/zero")
    rows = [f"wavs/{name}|Hello there number {i}.|spk" for i, name in enumerate(good)] + [
        "../outside/escape.wav|Read from outside the corpus folder.|spk",  # read, not written: kept
        "/dev/zero|An endless device.|spk",
        "/dev/urandom|Another endless device.|spk",
        "wavs/fifo.wav|A pipe nobody writes to.|spk",
        "wavs/link_to_zero.wav|A link to a device.|spk",
        "wavs|A folder.|spk",
        "file:///etc/passwd|A URL.|spk",
        "wavs/a\x1b[2J.wav|Terminal escapes.|spk",
        "../../../../../../../../etc/passwd|Not audio.|spk",
        "wavs/a.wav && touch PWNED|Shell syntax.|spk",
        "$(touch PWNED)|Shell syntax.|spk",
        "wavs/b.wav|Speaker name escapes.|../../../../tmp/PWNED",
    ]
    (corpus / "list.csv").write_text("\n".join(rows) + "\n")
    # LJSpeech format: ids are file names inside wavs/, never paths
    (corpus / "metadata.csv").write_text("\n".join([
        "a|Hello there.", "b|Hello again.", "c|And again.", "../../outside/escape|Escape.",
        "/dev/zero|Device.", "..|Dot dot.", "fifo|A pipe.",
    ]) + "\n")
    out = tmp_path / "out"
    before = _snapshot(tmp_path, out)
    frontend = TextFrontend(normalize=False)
    writer = _unblock_on_open(fifo)
    try:
        prepare_csv(corpus / "list.csv", out / "csv", frontend, num_dev=1, num_test=1)
        prepare_ljspeech(corpus, out / "lj", frontend, num_dev=1, num_test=1)
    finally:
        _release(fifo, writer)
    report = json.loads((out / "csv" / "prepare_report.json").read_text())
    assert report["kept"] == len(good) + 1
    # unsafe: 2 devices, the pipe, the folder, the URL, the escape codes; duplicates (same id or same file): the
    # link to /dev/zero, "wavs/a.wav && ..." (id "a"), b.wav again; /etc/passwd is read and is not audio
    assert report["skipped_by_reason"] == {"unsafe_path": 6, "duplicate": 3, "unreadable_audio": 1,
                                           "missing_audio": 1}
    report = json.loads((out / "lj" / "prepare_report.json").read_text())
    assert report["kept"] == 3 and report["skipped_by_reason"] == {"unsafe_path": 4}

    assert _snapshot(tmp_path, out) == before  # nothing outside out_dir was created or changed
    assert not list(cwd.iterdir())
    for sub in ("csv", "lj"):
        assert sorted(p.name for p in (out / sub).iterdir()) == [
            "cuts_dev.jsonl.gz", "cuts_test.jsonl.gz", "cuts_train.jsonl.gz", "prepare_report.json"]
    assert not Path("/tmp/PWNED").exists()
