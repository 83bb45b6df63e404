"""Paths in recipe configs: relative to the YAML file that holds them, or to the current directory for overrides."""
from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest
from omegaconf import OmegaConf

from scraps.task import ScrapsRecipeConfig
from scraps.training.config import PATH, load_config, path_keys, resolve_paths
from tts.task import TTSRecipeConfig

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "egs" / "demo"


def test_the_schemas_mark_their_path_fields():
    assert sorted(path_keys(ScrapsRecipeConfig)) == ["augment.noise_files", "data.dir", "exp_dir"]
    assert sorted(path_keys(TTSRecipeConfig)) == ["data.dir", "exp_dir", "init_from_scraps", "val.scraps_scorer"]


def test_yaml_paths_are_relative_to_the_file_and_overrides_to_the_current_directory(tmp_path, monkeypatch):
    conf = tmp_path / "egs" / "x" / "conf"
    conf.mkdir(parents=True)
    (conf / "c.yaml").write_text("exp_dir: ../exp/run\ndata:\n  dir: ../data/manifests\n"
                                 "augment:\n  noise_files: [noise/a.wav, /abs/b.wav, ~/c.wav]\n")
    seen = []
    for where in (tmp_path, conf, tmp_path / "elsewhere"):
        where.mkdir(exist_ok=True)
        monkeypatch.chdir(where)
        cfg = load_config(ScrapsRecipeConfig, Path(os.path.relpath(conf / "c.yaml", where)), [])
        seen.append((cfg.exp_dir, cfg.data.dir, list(cfg.augment.noise_files)))
    assert seen[0] == seen[1] == seen[2]
    assert seen[0] == (str(tmp_path / "egs" / "x" / "exp" / "run"), str(tmp_path / "egs" / "x" / "data" / "manifests"),
                       [str(conf / "noise" / "a.wav"), "/abs/b.wav", str(Path.home() / "c.wav")])

    monkeypatch.chdir(tmp_path / "elsewhere")
    cfg = load_config(ScrapsRecipeConfig, conf / "c.yaml", ["exp_dir=exp/other", "data.dir=/abs/data"])
    assert cfg.exp_dir == str(tmp_path / "elsewhere" / "exp" / "other")  # an override: from the current directory
    assert cfg.data.dir == "/abs/data"
    defaults = load_config(TTSRecipeConfig, None, [])
    assert defaults.exp_dir == str(tmp_path / "elsewhere" / "exp" / "tts")  # a default: from the current directory
    assert defaults.init_from_scraps is None and defaults.val.scraps_scorer is None


def test_the_demo_configs_name_the_same_folders_from_anywhere(tmp_path, monkeypatch):
    for where in (REPO, DEMO, tmp_path):
        monkeypatch.chdir(where)
        scraps = load_config(ScrapsRecipeConfig, DEMO / "conf" / "scraps.yaml", [])
        assert (scraps.exp_dir, scraps.data.dir) == (str(DEMO / "exp" / "scraps"), str(DEMO / "data" / "manifests"))
        tts = load_config(TTSRecipeConfig, DEMO / "conf" / "tts.yaml", [])
        assert tts.data.dir == str(DEMO / "data" / "manifests")
        assert tts.val.scraps_scorer == str(DEMO / "exp" / "scraps" / "export")
    # what egs/demo/run.sh passes, from egs/demo
    monkeypatch.chdir(DEMO)
    tts = load_config(TTSRecipeConfig, "conf/tts.yaml", ["exp_dir=exp/tts_scraps", "init_from_scraps=exp/scraps/export"])
    assert tts.exp_dir == str(DEMO / "exp" / "tts_scraps")
    assert tts.init_from_scraps == tts.val.scraps_scorer == str(DEMO / "exp" / "scraps" / "export")


def test_every_recipe_config_loads_with_its_schema():
    """A key the schemas no longer know (a renamed loss weight, ...) in any egs/*/conf/*.yaml is found here."""
    configs = sorted(REPO.glob("egs/*/conf/scraps*.yaml")) + sorted(REPO.glob("egs/*/conf/tts*.yaml"))
    assert len(configs) >= 4
    for path in configs:
        schema = TTSRecipeConfig if path.name.startswith("tts") else ScrapsRecipeConfig
        load_config(schema, path, [])


@dataclass
class _Inner:
    where: Optional[str] = field(default=None, metadata=PATH)
    name: str = "a/b"  # not a path: left as written


@dataclass
class _Schema:
    out: str = field(default="out", metadata=PATH)
    inner: _Inner = field(default_factory=_Inner)
    label: str = "x"


def test_any_schema_opts_in_with_field_metadata(tmp_path, monkeypatch):
    assert path_keys(_Schema) == ["out", "inner.where"]
    (tmp_path / "c.yaml").write_text("inner:\n  where: w\n  name: n/m\nlabel: l/k\n")
    monkeypatch.chdir("/")
    cfg = load_config(_Schema, tmp_path / "c.yaml", [])
    assert (cfg.out, cfg.inner.where, cfg.inner.name, cfg.label) == ("/out", str(tmp_path / "w"), "n/m", "l/k")


def test_resolve_paths_copies_and_skips_what_is_absent():
    values = {"exp_dir": "e", "data": {"dir": "/d"}, "augment": {"noise_files": None}}
    out = resolve_paths(values, ["exp_dir", "data.dir", "augment.noise_files", "val.scraps_scorer"], "/base")
    assert out == {"exp_dir": "/base/e", "data": {"dir": "/d"}, "augment": {"noise_files": None}}
    assert values["exp_dir"] == "e"


def test_the_saved_config_holds_absolute_paths(tmp_path, monkeypatch):
    from scraps.training.config import save_config

    monkeypatch.chdir(tmp_path)
    save_config(load_config(ScrapsRecipeConfig, DEMO / "conf" / "scraps.yaml", []), tmp_path / "c.yaml")
    saved = OmegaConf.load(tmp_path / "c.yaml")
    assert saved.exp_dir == str(DEMO / "exp" / "scraps") and saved.data.dir == str(DEMO / "data" / "manifests")


def test_resuming_a_checkpoint_with_relative_paths_does_not_report_a_change(tmp_path, monkeypatch, caplog):
    """A run whose checkpoint config holds paths relative to the folder it ran from resumes there silently."""
    import torch

    from scraps.training import checkpoint as ckpt
    from scraps.training.loop import _resume, make_scheduler, param_groups

    monkeypatch.chdir(tmp_path)
    cfg = load_config(ScrapsRecipeConfig, None, ["exp_dir=exp", "data.dir=data"])
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(param_groups(model, 0.0), lr=1e-3)
    scheduler = make_scheduler(opt, cfg.train)
    relative = OmegaConf.to_yaml(OmegaConf.merge(cfg, {"exp_dir": "exp", "data": {"dir": "data"}}))
    tmp = ckpt.tmp_dir(tmp_path / "exp" / "checkpoints", 1)
    ckpt.write_main_files(tmp, model.state_dict(), opt.state_dict(), scheduler.state_dict(),
                          {"step": 1, "epoch": 0, "batches_in_epoch": 1, "nan_skipped": 0, "nan_in_a_row": 0,
                           "last": {}}, relative)
    ckpt.publish(tmp, ckpt.step_dir(tmp_path / "exp" / "checkpoints", 1), 3)
    caplog.set_level(logging.INFO, logger="scraps.train")
    assert _resume(model, opt, scheduler, tmp_path / "exp" / "checkpoints", cfg).step == 1
    assert "resuming from" in caplog.text and "another config" not in caplog.text

    caplog.clear()
    moved = load_config(ScrapsRecipeConfig, None, ["exp_dir=exp", "data.dir=other"])
    _resume(model, opt, scheduler, tmp_path / "exp" / "checkpoints", moved)
    assert f"data.dir: {tmp_path / 'data'} -> {tmp_path / 'other'}" in caplog.text  # a real change is still named
