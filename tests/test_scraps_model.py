"""ScrapsModel: shapes, normalisation, padding invariance, the packed LSTM, export round trip, overfitting."""
from __future__ import annotations

import json
import math

import pytest
import torch

from scraps.audio.features import MelSpectrogram, num_frames
from scraps.export import ModelDirError, save_model_dir
from scraps.loss import contrastive_loss
from scraps.model import LSTMIntegrator, ScrapsConfig, ScrapsModel
from scraps.nn import AcousticEncoder, EncoderConfig, PhoneticEncoder
from scraps.text.vocab import SPECIALS, PhonemeVocab

VOCAB = 24
MODES = ("shared", "separate", "none")


def tiny_config(integrator: str = "shared", **kw) -> ScrapsConfig:
    enc = EncoderConfig(dim=32, layers=1, heads=2, ff_mult=2, dropout=0.0, max_len=512)
    return ScrapsConfig(
        vocab_size=VOCAB, phonetic=enc, acoustic=enc, integrator=integrator, integrator_dim=24, embed_dim=16, **kw
    )


def tiny_model(integrator: str = "shared", seed: int = 0, **kw) -> ScrapsModel:
    torch.manual_seed(seed)
    return ScrapsModel(tiny_config(integrator, **kw)).eval()


def padded_batch(seed: int = 0):
    """Phoneme ids and mels with garbage (not zeros) in every padded position."""
    g = torch.Generator().manual_seed(seed)
    id_lens = torch.tensor([9, 5, 1, 7])
    mel_lens = torch.tensor([37, 20, 9, 30])  # odd and even lengths: stride-2 convs see the boundary
    ids = torch.randint(3, VOCAB, (4, 9), generator=g)
    mel = torch.randn(4, 100, 37, generator=g) * 2 - 5
    return ids, id_lens, mel, mel_lens


def make_vocab(size: int = VOCAB) -> PhonemeVocab:
    return PhonemeVocab(list(SPECIALS) + [f"p{i}" for i in range(size - len(SPECIALS))])


@pytest.mark.parametrize("integrator", MODES)
def test_shapes_and_unit_norm(integrator):
    model = tiny_model(integrator)
    ids, id_lens, mel, mel_lens = padded_batch()
    e_p, e_a = model.embed_phonemes(ids, id_lens), model.embed_mels(mel, mel_lens)
    assert e_p.shape == e_a.shape == (4, 16)
    torch.testing.assert_close(e_p.norm(dim=-1), torch.ones(4))
    torch.testing.assert_close(e_a.norm(dim=-1), torch.ones(4))
    wav = torch.randn(4, 5000) * 0.1
    wav_lens = torch.tensor([5000, 4000, 3000, 800])
    e_p2, e_a2 = model(ids, id_lens, *model.mels(wav, wav_lens))
    assert e_a2.shape == (4, 16)
    score = model.score(ids, id_lens, wav, wav_lens)
    torch.testing.assert_close(score, (e_p2 * e_a2).sum(-1))
    assert score.shape == (4,) and bool((score.abs() <= 1 + 1e-6).all())
    torch.testing.assert_close(model.score_mels(ids, id_lens, mel, mel_lens), (e_p * e_a).sum(-1))


def test_shared_integrator_projects_encoders_of_different_width():
    cfg = tiny_config("shared")
    cfg.acoustic = EncoderConfig(dim=16, layers=1, heads=2, dropout=0.0)
    model = ScrapsModel(cfg).eval()
    ids, id_lens, mel, mel_lens = padded_batch()
    assert model.score_mels(ids, id_lens, mel, mel_lens).shape == (4,)
    assert "integrator_in.acoustic.weight" in model.state_dict()


@pytest.mark.parametrize("subsample", [1, 2, 4])
def test_acoustic_encoder_output_lengths_exact(subsample):
    torch.manual_seed(0)
    enc = AcousticEncoder(100, EncoderConfig(dim=16, layers=1, heads=2, dropout=0.0), subsample).eval()
    mel = torch.randn(3, 100, 23)
    lengths = torch.tensor([23, 10, 1])
    x, out_lens = enc(mel, lengths)
    expected = [math.ceil(n / subsample) for n in (23, 10, 1)]
    assert x.shape == (3, math.ceil(23 / subsample), 16)
    assert out_lens.tolist() == expected
    for i, n in enumerate(expected):
        assert bool((x[i, n:] == 0).all()) and bool((x[i, :n].abs().sum(-1) > 0).all())


def test_unsupported_subsample_and_bad_lengths_raise():
    with pytest.raises(ValueError, match="subsample"):
        AcousticEncoder(100, EncoderConfig(dim=16, layers=1, heads=2), 3)
    model = tiny_model()
    ids, _, mel, _ = padded_batch()
    with pytest.raises(ValueError, match="lengths must lie in 1..9"):
        model.embed_phonemes(ids, torch.tensor([9, 0, 3, 3]))
    with pytest.raises(ValueError, match="AcousticEncoder"):
        model.embed_mels(mel, torch.tensor([38, 5, 5, 5]))


@pytest.mark.parametrize("integrator", MODES)
def test_padding_invariance_with_mels(integrator):
    """Alone vs. inside a batch whose padding holds garbage: same embeddings (ids and mels given directly)."""
    model = tiny_model(integrator)
    ids, id_lens, mel, mel_lens = padded_batch()
    e_p, e_a = model.embed_phonemes(ids, id_lens), model.embed_mels(mel, mel_lens)
    for i in range(4):
        n, t = int(id_lens[i]), int(mel_lens[i])
        alone_p = model.embed_phonemes(ids[i : i + 1, :n], id_lens[i : i + 1])
        alone_a = model.embed_mels(mel[i : i + 1, :, :t], mel_lens[i : i + 1])
        torch.testing.assert_close(e_p[i : i + 1], alone_p, atol=1e-5, rtol=0)
        torch.testing.assert_close(e_a[i : i + 1], alone_a, atol=1e-5, rtol=0)


@pytest.mark.parametrize("integrator", MODES)
@pytest.mark.parametrize("n_ids", [3, 9, 40])  # fewer, about as many and more phonemes than acoustic frames
def test_pair_pass_equals_each_branch_alone(integrator, n_ids):
    """forward (one integrator pass over both branches when it is shared) gives the embeddings and gradients that
    embed_phonemes and embed_mels give one branch at a time."""
    model = tiny_model(integrator).double()
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(3, VOCAB, (4, n_ids), generator=g)
    id_lens = torch.tensor([n_ids, max(1, n_ids - 2), 1, n_ids])
    mel, mel_lens = torch.randn(4, 100, 37, generator=g, dtype=torch.float64) - 5, torch.tensor([37, 20, 9, 30])
    e_p, e_a = model(ids, id_lens, mel, mel_lens)
    one_p, one_a = model.embed_phonemes(ids, id_lens), model.embed_mels(mel, mel_lens)
    torch.testing.assert_close(e_p, one_p, atol=1e-12, rtol=0)
    torch.testing.assert_close(e_a, one_a, atol=1e-12, rtol=0)
    params = list(model.parameters())
    grad_pair = torch.autograd.grad((e_p * e_a).sum(), params, allow_unused=True)
    grad_alone = torch.autograd.grad((one_p * one_a).sum(), params, allow_unused=True)
    for pair, alone in zip(grad_pair, grad_alone):
        if pair is not None or alone is not None:
            torch.testing.assert_close(pair, alone, atol=1e-10, rtol=0)


@pytest.mark.parametrize("integrator", MODES)
def test_padding_invariance_with_waveforms(integrator):
    """Holds exactly through the STFT too: model.mels reflect-pads each item at its own end."""
    model = tiny_model(integrator)
    g = torch.Generator().manual_seed(1)
    wav_lens = torch.tensor([9000, 6151, 2049, 700])
    wav = torch.randn(4, 9000, generator=g) * 0.3  # padding is noise, not zeros
    e_a = model.embed_audio(wav, wav_lens)
    for i, s in enumerate(wav_lens.tolist()):
        alone = model.embed_audio(wav[i : i + 1, :s], wav_lens[i : i + 1])
        torch.testing.assert_close(e_a[i : i + 1], alone, atol=1e-5, rtol=0)


def test_batched_mels_equal_each_items_own_mel():
    model = tiny_model()
    mel_fn = MelSpectrogram()
    wav_lens = torch.tensor([9000, 6151, 2049])
    wav = torch.randn(3, 9000) * 0.3
    wav[1, 6151:] = 0.0  # a plainly zero-padded item (see below)
    mel, mel_lens = model.mels(wav, wav_lens)
    assert mel.shape == (3, 100, num_frames(9000)) and mel_lens.tolist() == [num_frames(int(s)) for s in wav_lens]
    for i, s in enumerate(wav_lens.tolist()):
        alone = mel_fn(wav[i : i + 1, :s])
        assert alone.shape[-1] == mel_lens[i]
        torch.testing.assert_close(mel[i : i + 1, :, : mel_lens[i]], alone, atol=1e-4, rtol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mel_autocast, _ = model.mels(wav, wav_lens)
    assert torch.equal(mel_autocast, mel)
    # The zero-padded item's naive batched mel differs from its own at the last frame: why model.mels exists.
    naive = mel_fn(wav)[1, :, : mel_lens[1]]
    assert (naive[:, -1] - mel_fn(wav[1:2, :6151])[0, :, -1]).abs().max() > 0.1


def test_lstm_integrator_reads_true_last_position():
    torch.manual_seed(0)
    integ = LSTMIntegrator(8, 12)
    lengths = torch.tensor([3, 6, 1])
    x = torch.randn(3, 6, 8)
    h = integ(x, lengths)
    for i, n in enumerate(lengths.tolist()):
        _, (h_ref, _) = integ.lstm(x[i : i + 1, :n])
        torch.testing.assert_close(h[i], h_ref[-1, 0])
    x2 = x.clone()
    x2[0, 3:] = 100.0
    x2[2, 1:] = -100.0
    torch.testing.assert_close(integ(x2, lengths), h)
    _, (h_full, _) = integ.lstm(x[:1])  # the state at the padded end is something else
    assert (h_full[-1, 0] - h[0]).abs().max() > 1e-3


def test_padded_ids_and_frames_do_not_matter():
    model = tiny_model("shared")
    ids, id_lens, mel, mel_lens = padded_batch()
    ids2, mel2 = ids.clone(), mel.clone()
    for i in range(4):
        ids2[i, id_lens[i] :] = torch.randint(0, VOCAB, (9 - int(id_lens[i]),))
        mel2[i, :, mel_lens[i] :] = 50.0
    torch.testing.assert_close(model.embed_phonemes(ids2, id_lens), model.embed_phonemes(ids, id_lens))
    torch.testing.assert_close(model.embed_mels(mel2, mel_lens), model.embed_mels(mel, mel_lens))


def test_save_and_load_gives_identical_scores(tmp_path):
    vocab = make_vocab()
    model = tiny_model("separate", seed=3)
    with torch.no_grad():
        model.logit_scale.fill_(3.3)
    frontend = {"language": "en-us", "g2p": "espeak"}
    model.save_pretrained(tmp_path / "m", vocab, frontend_config=frontend, train_config={"lr": 1e-3})
    loaded = ScrapsModel.from_pretrained(tmp_path / "m")
    assert not loaded.training
    assert loaded.config == model.config
    assert loaded.frontend_config == frontend and loaded.train_config == {"lr": 1e-3}
    assert isinstance(loaded.vocab, PhonemeVocab) and loaded.vocab == vocab
    ids, id_lens, mel, mel_lens = padded_batch()
    assert torch.equal(loaded.score_mels(ids, id_lens, mel, mel_lens), model.score_mels(ids, id_lens, mel, mel_lens))
    wav, wav_lens = torch.randn(2, 4000) * 0.1, torch.tensor([4000, 3000])
    args = (ids[:2], id_lens[:2], wav, wav_lens)
    assert torch.equal(loaded.score(*args), model.score(*args))
    assert loaded.logit_scale.item() == pytest.approx(3.3)


def test_phonetic_encoder_tensors_transfer_by_prefix():
    """What the TTS does: copy the phonetic_encoder.* tensors into a stand-alone PhoneticEncoder."""
    model = tiny_model(seed=5)
    prefix = "phonetic_encoder."
    tensors = {k[len(prefix) :]: v for k, v in model.state_dict().items() if k.startswith(prefix)}
    enc = PhoneticEncoder(VOCAB, model.config.phonetic).eval()
    enc.load_state_dict(tensors, strict=True)
    ids, id_lens, _, _ = padded_batch()
    torch.testing.assert_close(enc(ids, id_lens), model.phonetic_encoder(ids, id_lens))


def test_wrong_directories_raise_model_dir_error(tmp_path):
    vocab = make_vocab()
    cases = [tmp_path / "missing", tmp_path / "empty"]
    (tmp_path / "empty").mkdir()
    save_model_dir(tmp_path / "tts", "tts", {"model": {}}, {"w": torch.zeros(2)})
    cases.append(tmp_path / "tts")
    model = tiny_model()
    model.save_pretrained(tmp_path / "bad_weights", vocab)
    save_model_dir(
        tmp_path / "bad_weights", "scraps", {"model": model.config.to_dict()}, {"w": torch.zeros(2)},
        extra_json={"vocab.json": json.loads(vocab.to_json())},
    )
    cases.append(tmp_path / "bad_weights")
    for path in cases:
        with pytest.raises(ModelDirError) as err:
            ScrapsModel.from_pretrained(path)
        assert "\n" not in str(err.value) and str(path) in str(err.value)
    with pytest.raises(ModelDirError, match="tts model, not a scraps model"):
        ScrapsModel.from_pretrained(tmp_path / "tts")


def test_save_refuses_a_vocab_of_the_wrong_size(tmp_path):
    with pytest.raises(ValueError, match="vocabulary has 7 symbols"):
        tiny_model().save_pretrained(tmp_path / "m", make_vocab(7))


def test_config_round_trip_and_validation():
    cfg = tiny_config("none", subsample=2)
    assert ScrapsConfig.from_dict(cfg.to_dict()) == cfg
    assert isinstance(ScrapsConfig.from_dict(cfg.to_dict()).acoustic, EncoderConfig)
    with pytest.raises(ValueError, match="integrator"):
        ScrapsConfig(vocab_size=10, integrator="gru")
    with pytest.raises(ValueError, match="unknown ScrapsConfig keys"):
        ScrapsConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_logit_scale_init_and_clamp():
    model = tiny_model()
    assert model.logit_scale.item() == pytest.approx(math.log(1 / 0.07))
    assert model.logit_scale.shape == ()
    with torch.no_grad():
        model.logit_scale.fill_(7.0)
    model.clamp_logit_scale_()
    assert model.logit_scale.item() == pytest.approx(math.log(100.0))
    with torch.no_grad():
        model.logit_scale.fill_(-1.0)
    model.clamp_logit_scale_()
    assert model.logit_scale.item() == 0.0


def test_state_dict_holds_no_mel_or_position_buffers():
    keys = tiny_model().state_dict().keys()
    assert not [k for k in keys if k.startswith("mel.") or k.endswith(".table")]
    assert any(k.startswith("phonetic_encoder.layers.0.") for k in keys)


def test_tiny_model_overfits_random_pairs():
    torch.manual_seed(0)
    model = ScrapsModel(tiny_config("shared")).train()
    ids, id_lens, mel, mel_lens = padded_batch(seed=4)
    ids = torch.cat([ids, torch.randint(3, VOCAB, (4, 9))])
    id_lens = torch.cat([id_lens, torch.tensor([9, 4, 6, 2])])
    mel = torch.cat([mel, torch.randn(4, 100, 37) * 2 - 5])
    mel_lens = torch.cat([mel_lens, torch.tensor([37, 12, 25, 16])])
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(60):
        e_p, e_a = model.embed_phonemes(ids, id_lens), model.embed_mels(mel, mel_lens)
        loss, _ = contrastive_loss(e_p, e_a, model.logit_scale)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.clamp_logit_scale_()
        losses.append(loss.item())
    assert losses[0] > 1.5  # about ln 8 at the start
    assert losses[-1] < 0.3 * losses[0], losses[::10]
    _, stats = contrastive_loss(
        model.eval().embed_phonemes(ids, id_lens), model.embed_mels(mel, mel_lens), model.logit_scale
    )
    assert stats["acc_p2a"] == 1.0 and stats["acc_a2p"] == 1.0


def test_attention_dropout_is_its_own_setting():
    """attn_dropout reaches the attention weights only; None (and configs written before it existed) means dropout."""
    ids, id_lens = torch.randint(3, VOCAB, (2, 9)), torch.tensor([9, 6])

    def encoder(**kw) -> PhoneticEncoder:
        torch.manual_seed(0)
        return PhoneticEncoder(VOCAB, EncoderConfig(dim=32, layers=1, heads=2, ff_mult=2, **kw)).train()

    only_attn = encoder(dropout=0.0, attn_dropout=0.5)
    assert only_attn.layers[0].self_attn.dropout == 0.5 and only_attn.layers[0].drop.p == 0.0
    assert not torch.allclose(only_attn(ids, id_lens), only_attn(ids, id_lens))  # attention weights dropped
    no_attn = encoder(dropout=0.0, attn_dropout=0.0)
    torch.testing.assert_close(no_attn(ids, id_lens), no_attn(ids, id_lens))  # nothing random left
    assert encoder(dropout=0.1).layers[0].self_attn.dropout == 0.1
    old = tiny_config().to_dict()
    del old["phonetic"]["attn_dropout"], old["acoustic"]["attn_dropout"]
    assert ScrapsConfig.from_dict(old).phonetic.attn_dropout is None
