"""README.md's training and scoring commands, run as written from the repository root and from another folder.

They run in a copy of the repository's layout under a temporary folder: ``egs/demo/conf/*.yaml`` copied,
``recipes/`` linked, the demo's data and the README's ``data/mine`` replaced by a tiny corpus. So the commands name
the README's own paths without reading or writing the real ``egs/demo/data`` and ``exp``. Training commands get
the tiny-model overrides of test_training.py and 2 steps. ``accelerate launch`` without an accelerate config
starts one process that runs the script, so the script runs in this process (runpy), as ``python script`` would.
About 30 s on 2 CPU cores.
"""
from __future__ import annotations

import os
import re
import runpy
import shlex
import shutil
import sys
from pathlib import Path

import pytest
from accelerate.state import AcceleratorState, GradientState
from test_training import TINY_SCRAPS, TINY_TTS

from scraps.task import ScrapsRecipeConfig
from scraps.training.config import path_keys

REPO = Path(__file__).resolve().parents[1]
FEW_STEPS = ["train.max_steps=2", "train.val_every=2", "train.ckpt_every=2"]
TINY = {
    "pretrain_scraps.py": [*TINY_SCRAPS, *FEW_STEPS],
    "train_tts.py": [*TINY_TTS, *FEW_STEPS, "data.speakers=null"],  # the tiny corpus has other voices
}
# what `make demo` runs for stage 2 (egs/demo/run.sh cds to egs/demo; from the root the config path says where)
DEMO_SCRAPS = "python recipes/pretrain_scraps.py --config egs/demo/conf/scraps.yaml"


def readme_commands() -> list[list[str]]:
    """Every command of the README's ```bash blocks, split as a shell would (comments and continuations too)."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [argv for argv in (shlex.split(line, comments=True) for line in lines) if argv]


def _is_training(argv: list[str]) -> bool:
    script = argv[2] if argv[:2] == ["accelerate", "launch"] else argv[1] if argv[0] == "python" else ""
    return script.startswith("recipes/")


TRAINING = [argv for argv in readme_commands() if _is_training(argv)]
SCORING = [argv for argv in readme_commands() if argv[:2] == ["scraps", "score"]]


@pytest.fixture
def layout(tmp_path, tiny_corpus) -> Path:
    root = tmp_path / "repo"
    (root / "egs" / "demo" / "conf").mkdir(parents=True)
    for config in (REPO / "egs" / "demo" / "conf").glob("*.yaml"):
        shutil.copy(config, root / "egs" / "demo" / "conf")
    (root / "recipes").symlink_to(REPO / "recipes")
    shutil.copytree(tiny_corpus, root / "egs" / "demo" / "data" / "manifests")
    shutil.copytree(tiny_corpus, root / "data" / "mine")
    (root / "elsewhere" / "deeper").mkdir(parents=True)
    return root


def _run_recipe(argv: list[str], cwd: Path, monkeypatch, capsys) -> str:
    """Run a recipe command in ``cwd`` with the tiny overrides; return its stdout."""
    script, *args = argv[2:] if argv[0] == "accelerate" else argv[1:]
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", [script, *args, *TINY[Path(script).name]])
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(script, run_name="__main__")
    out, err = capsys.readouterr()
    assert stop.value.code == 0, err[-3000:]
    return out


def _seen_from(argv: list[str], root: Path, where: Path, keys: set[str]) -> list[str]:
    """The same command typed in ``where``: paths relative to the root (and path overrides) rewritten."""
    out = []
    for token in argv:
        key, eq, value = token.partition("=")
        if eq and key in keys:
            token = f"{key}={os.path.relpath(root / value, where)}"
        elif not token.startswith("-") and "=" not in token and (root / token).exists():
            token = os.path.relpath(root / token, where)
        out.append(token)
    return out


def _exported(out: str) -> str:
    return re.findall(r"^done: model exported to (.+)$", out, re.M)[-1]


def test_the_readme_has_the_commands_this_test_runs():
    assert [argv[2] for argv in TRAINING] == ["recipes/pretrain_scraps.py", "recipes/train_tts.py"]
    assert all("--config" in argv for argv in TRAINING) and len(SCORING) == 1


def test_readme_commands_run_from_the_root_and_from_another_folder(layout, tiny_corpus, monkeypatch, capsys):
    from tts.task import TTSRecipeConfig

    keys = set(path_keys(ScrapsRecipeConfig)) | set(path_keys(TTSRecipeConfig))
    elsewhere = layout / "elsewhere" / "deeper"
    expected = [layout / "egs" / "demo" / "exp" / "scraps", layout / "exp" / "mine", layout / "exp" / "mine_tts"]
    for argv, exp_dir in zip([shlex.split(DEMO_SCRAPS), *TRAINING], expected, strict=True):
        first = _exported(_run_recipe(argv, layout, monkeypatch, capsys))
        # from another folder the same run is found (it resumes at its last step) and exported to the same place
        again = _exported(_run_recipe(_seen_from(argv, layout, elsewhere, keys), elsewhere, monkeypatch, capsys))
        assert first == again == str(exp_dir / "export"), " ".join(argv)
    assert (layout / "exp" / "mine_tts" / "export" / "speakers.json").is_file()

    # the quick start scores a demo clip (here a clip of the tiny corpus under the README's name) with that export
    from scraps.cli import main as scraps_main

    argv = SCORING[0]
    clip = layout / argv[argv.index("--audio") + 1]
    clip.parent.mkdir(parents=True)
    shutil.copy(next((tiny_corpus.parent / "corpus" / "wavs").glob("*.flac")), clip)
    monkeypatch.chdir(layout)
    assert scraps_main(argv[1:]) == 0
    assert -1.0 <= float(capsys.readouterr().out.strip()) <= 1.0
