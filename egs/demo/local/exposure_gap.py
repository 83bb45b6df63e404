"""Where a TTS export loses intelligibility: teacher forced, free running with the aligner's durations, free running.

    python local/exposure_gap.py --model exp/tts_scraps/export --cuts data/manifests/cuts_dev.jsonl.gz \
        --scraps exp/scraps/export [--max-utts 24]

For the cuts of the model's speakers (the first --max-utts), the SCRAPS score and 32-way recall@1 of three mels
against each utterance's phonemes: the decoder fed the recording's own frames (teacher forced), the decoder running
on its own frames with the durations its aligner finds in the recording, and plain synthesis (predicted
durations). The first gap is the decoder running free; the second is the duration predictor.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from lhotse import CutSet
from torch.nn.utils.rnn import pad_sequence

from scraps.audio import MelSpectrogram
from scraps.model import ScrapsModel
from tts.evaluation import ScrapsJudge, load_tts_eval_set
from tts.model import TTSModel


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--cuts", required=True)
    p.add_argument("--scraps", required=True)
    p.add_argument("--max-utts", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    model = TTSModel.from_pretrained(args.model)
    keep = set(model.speakers)
    cuts = CutSet.from_file(args.cuts).filter(lambda c: c.supervisions[0].speaker in keep)
    data = load_tts_eval_set(cuts, model, args.max_utts)
    mel_fn = MelSpectrogram()
    refs = [mel_fn(w[None])[0] for w in data.waves]
    ids = pad_sequence([torch.tensor(i) for i in data.phoneme_ids], batch_first=True, padding_value=model.vocab.pad_id)
    id_lens = torch.tensor([len(i) for i in data.phoneme_ids])
    mel = pad_sequence([r.T for r in refs], batch_first=True).transpose(1, 2)
    mel_lens = torch.tensor([r.shape[1] for r in refs])
    speakers = torch.tensor(data.speakers)
    torch.manual_seed(args.seed)
    with torch.no_grad():
        tf = model(ids, id_lens, speakers, mel, mel_lens, prior_sigma=None)
        aligned, a_lens, _ = model.generate(ids, id_lens, speakers, max_frames=int(mel_lens.max()),
                                            durations=tf["durations"])  # fmt: skip
        free, f_lens, _ = model.generate(ids, id_lens, speakers, max_frames=4 * int(mel_lens.max()))
    judge = ScrapsJudge(ScrapsModel.from_pretrained(args.scraps), data.phoneme_ids, seed=args.seed)
    outputs = {
        "recording": refs,
        "teacher forced": [tf["mel"][k, :, : mel_lens[k]] for k in range(len(refs))],
        "free running, aligner's durations": [aligned[k, :, : a_lens[k]] for k in range(len(refs))],
        "free running (synthesis)": [free[k, :, : f_lens[k]] for k in range(len(refs))],
    }
    print(f"{len(refs)} utterances of {args.cuts} ({len(data.skipped)} skipped)")
    print("| mel | SCRAPS score | recall@1 (32-way) |\n|---|---|---|")
    for name, mels in outputs.items():
        scores, ranks = judge.judge(data.phoneme_ids, mels)
        print(f"| {name} | {np.mean(scores):.3f} | {np.mean([r == 1 for r in ranks]):.3f} |")


if __name__ == "__main__":
    main()
