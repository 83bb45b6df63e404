"""The shared training loop, driven through the SCRAPS and TTS tasks on a tiny generated corpus."""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from accelerate.state import AcceleratorState, GradientState
from safetensors.torch import load_file

from scraps.task import ScrapsRecipeConfig, ScrapsTask
from scraps.training.config import ConfigError, load_config
from scraps.training.loop import train

REPO = Path(__file__).resolve().parents[1]

TINY_SCRAPS = [
    "model.phonetic.dim=32", "model.phonetic.layers=1", "model.phonetic.heads=2",
    "model.acoustic.dim=32", "model.acoustic.layers=1", "model.acoustic.heads=2",
    "model.integrator_dim=32", "model.embed_dim=32",
    "train.batch_size=4", "train.warmup_steps=2", "train.lr=3e-3", "train.log_every=2",
]
TINY_TTS = [
    "model.encoder.dim=32", "model.encoder.layers=1", "model.encoder.heads=2",
    "model.decoder.dim=32", "model.decoder.layers=1", "model.decoder.heads=2", "model.decoder.prenet_dim=32",
    "model.decoder.postnet_channels=32", "model.decoder.postnet_layers=2", "model.speaker_dim=8",
    "model.aligner_dim=8", "model.duration_channels=16",
    "val.free_running=2", "val.plots=false",
    "train.batch_size=4", "train.warmup_steps=2", "train.lr=3e-3", "train.log_every=2",
]


def _run(schema, make_task, overrides: list[str]) -> Path:
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    cfg = load_config(schema, None, overrides)
    return train(make_task(cfg), cfg)


def _scraps(corpus: Path, exp: Path, *extra: str) -> Path:
    return _run(ScrapsRecipeConfig, ScrapsTask, [f"exp_dir={exp}", f"data.dir={corpus}", *TINY_SCRAPS, *extra])


@pytest.fixture(scope="module")
def scraps_run(tiny_corpus, tmp_path_factory) -> Path:
    exp = tmp_path_factory.mktemp("scraps") / "run"
    _scraps(tiny_corpus, exp, "train.max_steps=8", "train.val_every=4", "train.ckpt_every=4", "train.keep_last=5")
    return exp


def test_run_layout_checkpoints_and_export(scraps_run):
    from scraps import ScrapsModel

    names = sorted(p.name for p in (scraps_run / "checkpoints").iterdir())
    assert names == ["step-00000004", "step-00000008"]
    for name in names:
        files = {p.name for p in (scraps_run / "checkpoints" / name).iterdir()}
        assert {"model.safetensors", "optimizer.pt", "scheduler.json", "trainer_state.json",
                "config.yaml", "COMPLETE"} <= files
    rows = [json.loads(line) for line in (scraps_run / "validation.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [4, 8]
    assert all(0.0 <= r["r1_p2a"] <= 1.0 for r in rows)
    model = ScrapsModel.from_pretrained(scraps_run / "export")
    assert (scraps_run / "export" / "config.yaml").read_text().count("max_steps: 8") == 1
    final = load_file(str(scraps_run / "checkpoints" / "step-00000008" / "model.safetensors"))
    for k, v in model.state_dict().items():
        assert torch.equal(v, final[k]), k


def test_rerun_resumes_to_identical_parameters(scraps_run, tiny_corpus, tmp_path, caplog):
    # Simulate a run that stopped after its step-4 checkpoint: copy the run without its later state, rerun.
    exp = tmp_path / "resumed"
    shutil.copytree(scraps_run, exp, ignore=shutil.ignore_patterns("step-00000008", "export", "tb"))
    caplog.set_level(logging.INFO, logger="scraps.train")
    _scraps(tiny_corpus, exp, "train.max_steps=8", "train.val_every=4", "train.ckpt_every=4", "train.keep_last=5")
    assert "resuming from" in caplog.text and "another config" not in caplog.text  # same command, moved dir
    uninterrupted = load_file(str(scraps_run / "export" / "model.safetensors"))
    resumed = load_file(str(exp / "export" / "model.safetensors"))
    assert uninterrupted.keys() == resumed.keys()
    for k in uninterrupted:
        torch.testing.assert_close(resumed[k], uninterrupted[k], atol=1e-6, rtol=0, msg=k)


def test_resuming_with_another_config_says_what_changed(scraps_run, tiny_corpus, tmp_path, caplog):
    exp = tmp_path / "changed"
    shutil.copytree(scraps_run, exp, ignore=shutil.ignore_patterns("step-00000008", "export", "tb"))
    caplog.set_level(logging.WARNING, logger="scraps.train")
    _scraps(tiny_corpus, exp, "train.max_steps=6", "train.val_every=4", "train.ckpt_every=4", "train.keep_last=5")
    warnings = [r.getMessage() for r in caplog.records if "another config" in r.getMessage()]
    assert len(warnings) == 1
    assert "resuming from step 4" in warnings[0] and "train.max_steps: 8 -> 6" in warnings[0]
    assert "--no-resume" in warnings[0] and "\n" not in warnings[0]


def test_scraps_loss_falls_on_tiny_corpus(tiny_corpus):
    from scraps.data import make_dataloader, make_sampler
    from scraps.training.loop import load_recipe_cuts

    torch.manual_seed(0)
    cfg = load_config(ScrapsRecipeConfig, None, [f"data.dir={tiny_corpus}", *TINY_SCRAPS, "augment.enabled=false"])
    task = ScrapsTask(cfg)
    model = task.build_model()
    batch = next(iter(make_dataloader(task.dataset(), make_sampler(load_recipe_cuts(cfg, "cuts_train.jsonl.gz"),
                                                                           batch_size=8, shuffle=False))))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(40):
        loss, _ = task.training_step(model, batch, step, torch.Generator().manual_seed(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
        task.after_optimizer_step(model)
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses[::8]


def test_augmentation_warmup_starts_clean_and_reaches_prob(tiny_corpus):
    from scraps.data import make_dataloader, make_sampler
    from scraps.training.loop import load_recipe_cuts

    cfg = load_config(ScrapsRecipeConfig, None, [f"data.dir={tiny_corpus}", *TINY_SCRAPS, "augment.prob=1.0",
                                                 "augment.warmup_steps=10", "augment.gain_db=[0.0,0.0]"])
    task = ScrapsTask(cfg)
    task.build_model()
    batch = next(iter(make_dataloader(task.dataset(), make_sampler(load_recipe_cuts(cfg, "cuts_train.jsonl.gz"),
                                                                           batch_size=4, shuffle=False))))
    seen = []

    def model(ids, id_lens, mel, mel_lens):  # stands in for the model: keeps the mel of the audio it is given
        seen.append(mel)
        return task.model(ids, id_lens, mel, mel_lens)

    for step in (0, 10):
        task.training_step(model, batch, step, torch.Generator().manual_seed(0))
    clean, _ = task.model.mels(batch["audio"], batch["audio_lens"])
    assert torch.equal(seen[0], clean)  # step 0 of the warmup: probability 0, clean audio
    changed = [not torch.equal(seen[1][i], clean[i]) for i in range(len(batch["ids"]))]
    assert all(changed)  # end of the warmup: the configured probability (1.0), every item noisy


def test_config_typo_is_refused_with_the_nearest_key(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'train\.max_step'; did you mean 'train\.max_steps'"):
        load_config(ScrapsRecipeConfig, None, ["train.max_step=3"])
    with pytest.raises(ConfigError, match="train.batch_size"):
        load_config(ScrapsRecipeConfig, None, ["train.batch_size=many"])
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("model:\n  integrater: shared\n")
    with pytest.raises(ConfigError, match="did you mean 'model.integrator'"):
        load_config(ScrapsRecipeConfig, cfg_file, [])


def test_recipe_refuses_bad_config_in_one_line_and_writes_nothing(tmp_path):
    exp = tmp_path / "never"
    proc = subprocess.run(
        [sys.executable, str(REPO / "recipes" / "pretrain_scraps.py"), "--config",
         str(REPO / "egs" / "demo" / "conf" / "scraps.yaml"), f"exp_dir={exp}", "train.lr_rate=1"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: unknown config key 'train.lr_rate'; did you mean 'train.lr'?"
    assert not exp.exists()


def test_overrides_may_come_before_and_after_a_recipe_flag(tmp_path, capsys):
    from scraps.training.cli import run_recipe
    from tts.task import TTSRecipeConfig, TTSTask

    exp = tmp_path / "never"
    argv = ["--config", str(REPO / "egs" / "demo" / "conf" / "tts.yaml"), f"exp_dir={exp}",
            "--init-from-scraps", str(tmp_path / "scraps_export"), "train.lr_rate=1"]
    flags = {"--init-from-scraps": ("init_from_scraps", str, "SCRAPS export")}
    assert run_recipe("test", TTSRecipeConfig, TTSTask, argv, flags) == 2  # refused by the config check, not argparse
    assert capsys.readouterr().err.strip() == "error: unknown config key 'train.lr_rate'; did you mean 'train.lr'?"
    assert not exp.exists()


def test_tts_init_from_scraps_and_freeze(scraps_run, tiny_corpus, tmp_path):
    from tts.model import TTSModel
    from tts.task import TTSRecipeConfig, TTSTask

    export = scraps_run / "export"
    common = [f"data.dir={tiny_corpus}", *TINY_TTS, "train.max_steps=4", "train.val_every=2", "train.ckpt_every=4"]
    _run(TTSRecipeConfig, TTSTask, [f"exp_dir={tmp_path / 'frozen'}", f"init_from_scraps={export}",
                                    "freeze_encoder_steps=4", f"val.scraps_scorer={export}", *common])
    tts = TTSModel.from_pretrained(tmp_path / "frozen" / "export").state_dict()
    scraps_state = load_file(str(export / "model.safetensors"))
    enc = [k for k in tts if k.startswith("phonetic_encoder.")]
    assert enc and all(torch.equal(tts[k], scraps_state[k]) for k in enc)  # frozen: still the SCRAPS weights
    rows = [json.loads(x) for x in (tmp_path / "frozen" / "validation.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4] and all(-1 <= r["scraps_score"] <= 1 for r in rows)
    for r in rows:  # teacher-forced loss terms, the aligner's sharpness, the free-running figures, the time
        assert {"loss", "l1_post", "align", "duration", "focus_rate", "aligned", "free_len_ratio", "free_len_within",
                "free_hit_cap", "free_mcd_dtw", "scraps_score", "scraps_recall_at_1", "train_seconds"} <= r.keys()
        assert 0 < r["focus_rate"] <= 1 and r["aligned"] in (0.0, 1.0) and r["free_len_ratio"] > 0
        assert 0 <= r["free_len_within"] <= 1 and 0 <= r["free_hit_cap"] <= 1 and r["free_mcd_dtw"] > 0
        assert r["scraps_recall_at_1"] in (0.0, 0.5, 1.0)  # val.free_running=2 utterances
    assert 0 < rows[0]["train_seconds"] < rows[1]["train_seconds"]

    _run(TTSRecipeConfig, TTSTask, [f"exp_dir={tmp_path / 'scratch'}", *common])
    from tts.convergence import ComparisonError, compare, write_comparison

    with pytest.raises(ComparisonError, match="more than the initialisation and seed"):
        compare({"scratch": [tmp_path / "scratch"], "scraps": [tmp_path / "frozen"]})  # val.scraps_scorer differs
    _run(TTSRecipeConfig, TTSTask, [f"exp_dir={tmp_path / 'unfrozen'}", f"init_from_scraps={export}", *common])
    tts2 = TTSModel.from_pretrained(tmp_path / "unfrozen" / "export").state_dict()
    assert not all(torch.equal(tts2[k], scraps_state[k]) for k in enc)  # not frozen: it trained
    result = write_comparison({"scratch": [tmp_path / "scratch"], "scraps": [tmp_path / "unfrozen"]},
                              tmp_path / "cmp")  # fmt: skip
    loss = result["thresholds"]["scratch's final loss"]
    assert loss["per_run"]["scratch"][0]["step"] in (2, 4) and loss["per_run"]["scratch"][0]["seconds"] > 0
    assert {"recall@1 >= 0.9", "SCRAPS score >= 0.6", "focus rate >= 0.5"} <= result["thresholds"].keys()
    assert (tmp_path / "cmp" / "convergence.png").stat().st_size > 1000


def test_slow_parameters_are_held_then_scaled():
    from omegaconf import OmegaConf

    from scraps.training.config import TrainConfig
    from scraps.training.loop import make_scheduler, param_groups

    model = torch.nn.ModuleDict({"enc": torch.nn.Linear(3, 3), "dec": torch.nn.Linear(3, 3)})
    tc = OmegaConf.structured(TrainConfig(lr=1.0, warmup_steps=2, max_steps=10))
    opt = torch.optim.AdamW(param_groups(model, 0.01, "enc."), lr=tc.lr)
    assert sorted((g["slow"], g["weight_decay"], len(g["params"])) for g in opt.param_groups) == [
        (False, 0.0, 1), (False, 0.01, 1), (True, 0.0, 1), (True, 0.01, 1)]
    sched = make_scheduler(opt, tc, frozen_until=4, slow_scale=0.1)
    rates = []
    for _ in range(6):
        rates.append({g["slow"]: g["lr"] for g in opt.param_groups})
        opt.step()
        sched.step()
    assert all(r[True] == 0.0 and r[False] > 0 for r in rates[:4])  # held at 0 until step 4
    assert all(r[True] == pytest.approx(0.1 * r[False]) and r[False] > 0 for r in rates[4:])  # then a tenth


def test_encoder_lr_scale_needs_a_scraps_encoder(tiny_corpus, tmp_path, capsys):
    from scraps.training.cli import run_recipe
    from tts.task import TTSRecipeConfig, TTSTask

    argv = ["--config", str(REPO / "egs" / "demo" / "conf" / "tts.yaml"), f"exp_dir={tmp_path / 'x'}",
            f"data.dir={tiny_corpus}", "data.speakers=null", "encoder_lr_scale=0.1"]
    assert run_recipe("test", TTSRecipeConfig, TTSTask, argv, {}) == 2
    err = capsys.readouterr().err.strip()
    assert "encoder_lr_scale need --init-from-scraps" in err and len(err.splitlines()) == 1


def test_tts_recipe_refuses_a_mismatched_scraps_export(scraps_run, tiny_corpus, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "recipes" / "train_tts.py"), "--config", str(REPO / "egs" / "demo" / "conf" /
         "tts.yaml"), "--init-from-scraps", str(scraps_run / "export"), f"exp_dir={tmp_path / 'x'}",
         f"data.dir={tiny_corpus}", "data.speakers=null", "model.encoder.dim=48", "model.encoder.heads=2", "model.encoder.layers=1"],
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "48" in last and "32" in last, last


@pytest.mark.skipif(shutil.which("accelerate") is None and not (Path(sys.executable).parent / "accelerate").exists(),
                    reason="accelerate launcher not installed")
def test_two_processes_equal_one_process_on_the_concatenated_batch(tmp_path):
    launcher = Path(sys.executable).parent / "accelerate"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    script = REPO / "tests" / "ddp_equivalence.py"
    proc = subprocess.run(
        [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--main_process_port", "29617",
         str(script), str(tmp_path / "ddp.pt")], capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    single = subprocess.run([sys.executable, str(script), str(tmp_path / "one.pt")], capture_output=True,
                            text=True, timeout=300, env=env)
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=True)
    one = torch.load(tmp_path / "one.pt", weights_only=True)
    torch.testing.assert_close(ddp["loss"], one["loss"], atol=1e-5, rtol=0)
    assert ddp["grads"].keys() == one["grads"].keys()
    for k in one["grads"]:
        torch.testing.assert_close(ddp["grads"][k], one["grads"][k], atol=1e-5, rtol=1e-4, msg=k)


def test_recipe_trains_with_two_processes_and_exports(tiny_corpus, tmp_path):
    launcher = Path(sys.executable).parent / "accelerate"
    exp = tmp_path / "ddp"
    proc = subprocess.run(
        [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--main_process_port", "29619",
         str(REPO / "recipes" / "pretrain_scraps.py"), "--config", str(REPO / "egs" / "demo" / "conf" / "scraps.yaml"),
         f"exp_dir={exp}", f"data.dir={tiny_corpus}", *TINY_SCRAPS, "train.batch_size=2", "train.max_steps=4",
         "train.val_every=2", "train.ckpt_every=2"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("done: model exported") == 1
    assert sorted(p.name for p in (exp / "checkpoints").iterdir()) == ["step-00000002", "step-00000004"]
    rows = [json.loads(x) for x in (exp / "validation.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]  # validation ran once per step, on the main process only
    assert (exp / "export" / "model.safetensors").is_file()
