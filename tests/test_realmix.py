"""egs/realmix on the real speech in ../shared/data: the FSDD list and the recipe's mix (skipped when it is absent)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from scraps.data.prepare import REPORT_NAME, load_cuts, prepare_csv
from scraps.text import TextFrontend

RECIPE = Path(__file__).resolve().parents[1] / "egs" / "realmix"


def recipe_script(name: str):
    """egs/realmix/local/<name>.py as a module (the recipe's scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(f"realmix_{name}", RECIPE / "local" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def test_fsdd_list_reads_the_file_names(fsdd, tmp_path, capsys):
    fsdd_list = recipe_script("fsdd_list")
    assert fsdd_list.main(["--fsdd-dir", str(fsdd), "--out", str(tmp_path / "list.csv")]) == 0
    rows = [line.split("|") for line in (tmp_path / "list.csv").read_text().splitlines()[1:]]
    assert len(rows) == 3000 and len({r[2] for r in rows}) == 6
    assert {r[1] for r in rows} == set(fsdd_list.DIGIT_WORDS)
    assert all(Path(r[0]).name.startswith(str(fsdd_list.DIGIT_WORDS.index(r[1]))) for r in rows)
    assert fsdd_list.main(["--fsdd-dir", str(tmp_path), "--out", str(tmp_path / "x.csv")]) == 2  # no recordings/
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_recipe_mix_on_real_speech_keeps_the_test_clips_out(ljspeech_subset, fsdd, tiny_corpus, tmp_path):
    """A few real clips of each corpus, prepared as the recipe does, mixed at 50 % and 100 % with conf/mix.yaml."""
    frontend = TextFrontend(normalize=False)
    lj_rows = [line.split("|") for line in (ljspeech_subset / "metadata.csv").read_text().splitlines()[:16]]
    (tmp_path / "lj.csv").write_text("".join(f"{ljspeech_subset}/wavs/{r[0]}.flac|{r[2]}|lj\n" for r in lj_rows))
    prepare_csv(tmp_path / "lj.csv", tmp_path / "ljspeech", frontend, num_dev=2, num_test=4, seed=0)
    rows = [r for r in recipe_script("fsdd_list").fsdd_rows(fsdd)[0] if r.split("|")[0].endswith("_7.wav")]  # 60
    (tmp_path / "fsdd.csv").write_text("\n".join(rows) + "\n")
    prepare_csv(tmp_path / "fsdd.csv", tmp_path / "fsdd", frontend, num_dev=2, num_test=2, seed=0, min_duration=0.1)
    mix = recipe_script("mix")
    dirs = [f"ljspeech.dir={tmp_path / 'ljspeech'}", f"fsdd.dir={tmp_path / 'fsdd'}", f"espeak.dir={tiny_corpus}"]
    for pct in (50, 100):
        argv = ["--config", str(RECIPE / "conf" / "mix.yaml"), *dirs, f"real_percent={pct}",
                f"out_dir={tmp_path}/m{pct}"]
        assert mix.main(argv) == 0
    lj_test = {f"ljspeech_{c.id}" for c in load_cuts(tmp_path / "ljspeech", "test")}
    half, full = ({c.id for c in load_cuts(tmp_path / f"m{p}", "train")} for p in (50, 100))
    assert half < full and not lj_test & full  # nested shares; no held-out clip in any training split
    for pct in (50, 100):
        assert {c.id for c in load_cuts(tmp_path / f"m{pct}", "test")} == lj_test  # the same test clips
        dev = load_cuts(tmp_path / f"m{pct}", "dev")
        assert not any(c.id.startswith("fsdd_") for c in dev)  # FSDD has no dev share (10 texts)
    report = json.loads((tmp_path / "m100" / REPORT_NAME).read_text())
    assert report["corpora"]["ljspeech"]["speakers"] == ["ljspeech_lj"]
    assert len(report["corpora"]["fsdd"]["speakers"]) == 6
    assert all(s.startswith("fsdd_") for s in report["corpora"]["fsdd"]["speakers"])
    assert all(s.startswith("espeak_") for s in report["corpora"]["espeak"]["speakers"])
    assert report["corpora"]["espeak"]["train"] == len(load_cuts(tiny_corpus, "train"))  # synthetic: always whole


def test_results_label_a_variant_by_the_settings_it_changed(tmp_path, monkeypatch):
    """make_results.py names a `run.sh --tag` run by the config keys that differ from the plain run of its share."""
    import yaml

    make_results = recipe_script("make_results")
    base = {"exp_dir": "exp/scraps_r25", "augment": {"enabled": True, "prob": 0.5},
            "train": {"lr": 0.002, "val_every": 600}}
    mine = {"exp_dir": "exp/scraps_r25_noaug", "augment": {"enabled": False, "prob": 0.5},
            "train": {"lr": 0.001, "val_every": 300},
            "model": {"added_since": 1.0}}  # a key the older run lacks is not a change
    for name, config in (("r25", base), ("r25_noaug", mine)):
        (tmp_path / f"exp/scraps_{name}").mkdir(parents=True)
        (tmp_path / f"exp/scraps_{name}/config.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)
    run = make_results.variant("r25_noaug")
    assert (run.pct, run.overrides) == ("25", "augment.enabled=false train.lr=0.001 train.val_every=300")
    # the label names what changes the model; the command keeps every override
    assert run.label == "25 %, augment.enabled=false train.lr=0.001" and run.exp == Path("exp/scraps_r25_noaug")
    assert make_results.variant("r50_x").label == "50 %, x"  # no configs to compare: the tag names it
