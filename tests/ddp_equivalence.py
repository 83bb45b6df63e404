"""Helper for test_training: one SCRAPS training step on a fixed batch of 8, in 1 or N processes.

Each of N processes takes its share of the batch; the contrastive loss gathers embeddings across processes and
DDP averages gradients. Rank 0 saves the loss and the gradients, which must equal one process on all 8 items.
"""
import sys

import torch
from accelerate import Accelerator

from scraps.loss import contrastive_loss
from scraps.model import ScrapsConfig, ScrapsModel
from scraps.nn.config import EncoderConfig


def main(out: str) -> None:
    acc = Accelerator(cpu=True)
    torch.manual_seed(0)
    enc = EncoderConfig(dim=32, layers=1, heads=2, dropout=0.0)
    model = ScrapsModel(ScrapsConfig(vocab_size=20, phonetic=enc, acoustic=enc, integrator_dim=32, embed_dim=16))
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 20, (8, 12), generator=g)
    id_lens = torch.randint(6, 13, (8,), generator=g)
    wav = torch.randn(8, 9000, generator=g) * 0.1
    wav_lens = torch.randint(4000, 9001, (8,), generator=g)
    keys = [str(i % 7) for i in range(8)]  # items 0 and 7 share a phoneme string: not negatives of each other
    model = acc.prepare(model)
    share = 8 // acc.num_processes
    rows = slice(acc.process_index * share, (acc.process_index + 1) * share)
    e_p, e_a = model(ids[rows], id_lens[rows], *acc.unwrap_model(model).mels(wav[rows], wav_lens[rows]))
    loss, _ = contrastive_loss(e_p, e_a, acc.unwrap_model(model).logit_scale, keys[rows])
    acc.backward(loss)
    if acc.is_main_process:
        grads = {n: p.grad.detach().clone() for n, p in acc.unwrap_model(model).named_parameters() if p.grad is not None}
        torch.save({"loss": loss.detach(), "grads": grads}, out)
    acc.wait_for_everyone()


if __name__ == "__main__":
    main(sys.argv[1])
