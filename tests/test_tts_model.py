"""TTS model: causality, padding, KV cache equivalence, durations and length caps, batched/per-item generation,
int8 weights, the loss, export, encoder init."""
from __future__ import annotations

import math

import pytest
import torch

from scraps.nn.config import EncoderConfig
from scraps.nn.layers import MultiHeadAttention, lengths_to_padding_mask, padding_bias
from tts.decoder import DecoderConfig
from tts.inference import LengthGuards, generate_guarded, int8_weights
from tts.loss import prior_sigma, tts_loss
from tts.model import SILENCE, TTSConfig, TTSModel

VOCAB = 12
N_MELS = 100
LOSS_KEYS = {"l1", "l2", "l1_post", "l2_post", "align", "duration", "length", "loss"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These models are tiny: a second intra-op thread only adds spin-waiting on a shared CPU (10x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config(reduction: int = 2, dropout: float = 0.0, prenet_at_inference: bool = False, **kw) -> TTSConfig:
    enc = EncoderConfig(dim=32, layers=2, heads=2, ff_mult=2, dropout=dropout, max_len=64)
    dec = DecoderConfig(
        dim=32, layers=2, heads=2, ff_mult=2, dropout=dropout, reduction=reduction, prenet_dim=32,
        prenet_dropout_at_inference=prenet_at_inference, postnet_channels=32, postnet_layers=3, max_len=64,
    )
    return TTSConfig(vocab_size=VOCAB, encoder=enc, decoder=dec, n_speakers=3, speaker_dim=8, aligner_dim=8,
                     duration_channels=16, **kw)  # fmt: skip


def tiny_model(seed: int = 0, **kw) -> TTSModel:
    torch.manual_seed(seed)
    return TTSModel(tiny_config(**kw)).eval()


def batch(seed: int = 1, t: int = 13):
    g = torch.Generator().manual_seed(seed)
    id_lens = torch.tensor([7, 4, 5])
    ids = torch.randint(1, VOCAB, (3, 7), generator=g).masked_fill(torch.arange(7) >= id_lens[:, None], 0)
    speakers = torch.tensor([0, 2, 1])
    mel = torch.randn(3, N_MELS, t, generator=g) * 2.0 - 1.3
    mel_lens = torch.tensor([t, t - 3, t - 6])
    return ids, id_lens, speakers, mel, mel_lens


# durations for the items of batch() (7, 4, 5 phonemes): totals 17, 9, 11; the padding entries must be ignored
DURATIONS = torch.tensor([[1, 3, 2, 4, 1, 2, 4], [2, 2, 3, 2, 9, 9, 9], [5, 1, 1, 2, 2, 9, 9]])
TOTALS = [17, 9, 11]


def set_durations(model: TTSModel, frames: float, spread: float = 0.0) -> TTSModel:
    """Make the duration predictor say about ``frames`` per phoneme: its head's bias log(frames), its weight the
    random init times ``spread`` (0: exactly ``frames`` for every phoneme)."""
    with torch.no_grad():
        model.duration_predictor.head.bias.fill_(math.log(frames))
        model.duration_predictor.head.weight.mul_(spread)
    return model


def fixed_cond(model: TTSModel, ids, id_lens, spk, mel_lens, t: int) -> torch.Tensor:
    """The decoder's conditioning (b, t, d) for durations spread evenly over each item's frames."""
    from tts.alignment import even_durations

    durations = torch.zeros_like(ids)
    for i, (n, f) in enumerate(zip(id_lens.tolist(), mel_lens.tolist())):
        durations[i, :n] = even_durations(f, n)
    return model.conditioning(model.encode(ids, id_lens, spk), durations, t)


# ------------------------------------------------------------------------------------------------- teacher forcing
@pytest.mark.parametrize("reduction", [1, 2, 3])
def test_teacher_forcing_is_causal(reduction):
    """With the conditioning held fixed, mel frame k reaches only the steps after its group, and the conditioning
    of frame k only frame k and the steps from its group on."""
    model = tiny_model(reduction=reduction)
    ids, id_lens, spk, mel, mel_lens = batch()
    t = mel.shape[-1]
    mel_lens = torch.full_like(mel_lens, t)
    dec = model.decoder
    with torch.no_grad():
        cond = fixed_cond(model, ids, id_lens, spk, mel_lens, t)
        frames = model.normalize(mel).transpose(1, 2)
        ref = dec(frames, cond, mel_lens)["mel"]
        for k in (0, 3, 4, 7, t - 1):
            group = k // reduction
            unchanged = min(t, (group + 1) * reduction)  # a frame feeds only the steps after its group
            changed = frames.clone()
            changed[:, k] += 5.0
            out = dec(changed, cond, mel_lens)["mel"]
            torch.testing.assert_close(out[:, :unchanged], ref[:, :unchanged])
            if k % reduction == reduction - 1 and unchanged < t:  # the last frame of a group: the next step's input
                assert not torch.allclose(out[:, unchanged:], ref[:, unchanged:])
            else:  # other frames are never decoder inputs
                torch.testing.assert_close(out, ref)
            other = cond.clone()
            other[:, k] += 1.0
            out = dec(frames, other, mel_lens)["mel"]
            torch.testing.assert_close(out[:, : group * reduction], ref[:, : group * reduction])
            assert not torch.allclose(out[:, k], ref[:, k])


def test_padding_content_does_not_leak_into_valid_outputs():
    model = tiny_model()
    ids, id_lens, spk, mel, mel_lens = batch()
    pad = torch.arange(mel.shape[-1]) >= mel_lens[:, None]
    noisy = mel + 9.0 * pad[:, None, :]
    noisy_ids = ids.masked_fill(torch.arange(7) >= id_lens[:, None], 5)
    with torch.no_grad():
        a = model(ids, id_lens, spk, mel, mel_lens, prior_sigma=0.5)
        b = model(noisy_ids, id_lens, spk, noisy, mel_lens, prior_sigma=0.5)
        single = model(ids[2:, : id_lens[2]], id_lens[2:], spk[2:], mel[2:, :, : mel_lens[2]], mel_lens[2:],
                       prior_sigma=0.5)  # fmt: skip
    for key in ("mel_norm", "mel_post_norm"):
        valid = ~pad[:, None, :].expand_as(a[key])
        torch.testing.assert_close(a[key][valid], b[key][valid])
    assert torch.equal(a["durations"], b["durations"])
    tokens = ~lengths_to_padding_mask(id_lens, 7)
    torch.testing.assert_close(a["log_duration_pred"][tokens], b["log_duration_pred"][tokens])
    cells = (~pad)[:, :, None] & tokens[:, None, :]  # valid (frame, phoneme) pairs
    torch.testing.assert_close(a["align_log_p"][cells], b["align_log_p"][cells])
    # a padded item equals the same item alone: alignment, durations, mel (postnet included)
    n, f = int(id_lens[2]), int(mel_lens[2])
    assert torch.equal(a["durations"][2, :n], single["durations"][0])
    torch.testing.assert_close(a["align_log_p"][2, :f, :n], single["align_log_p"][0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a["mel"][2:, :, :f], single["mel"], atol=1e-5, rtol=1e-5)
    # durations are whole frames summing to each item's length, at least one per phoneme, 0 at padding
    assert a["durations"].sum(1).tolist() == mel_lens.tolist()
    assert a["durations"][tokens].min() >= 1 and a["durations"][~tokens].eq(0).all()


def test_odd_length_targets_are_cropped_back():
    model = tiny_model(reduction=3)
    ids, id_lens, spk, mel, mel_lens = batch(t=13)
    with torch.no_grad():
        out = model(ids, id_lens, spk, mel, mel_lens)
    for key in ("mel", "mel_norm", "mel_post_norm", "target_norm"):
        assert out[key].shape == (3, N_MELS, 13), key
    assert out["align_log_p"].shape == out["align_log_p_prior"].shape == (3, 13, 7)
    assert out["durations"].shape == out["log_duration_pred"].shape == (3, 7)


@pytest.mark.parametrize("reduction", [1, 2, 3])
def test_incremental_decoding_matches_teacher_forcing(reduction):
    """The KV-cached step loop, fed the target frames and the conditioning of the durations that the teacher-forced
    pass used, gives its frames (13 frames: a last, partial group for r = 2 and 3)."""
    model = tiny_model(reduction=reduction)
    ids, id_lens, spk, mel, mel_lens = batch(t=13)
    with torch.no_grad():
        ref = model(ids, id_lens, spk, mel, mel_lens, prior_sigma=0.5)
        dec = model.decoder
        cond = model.conditioning(model.encode(ids, id_lens, spk), ref["durations"], 13)
        target = model.normalize(mel).transpose(1, 2)  # (b, t, c)
        steps = math.ceil(13 / reduction)
        state = dec.init_state(max_steps=steps)
        prev = torch.zeros(3, N_MELS)
        for g in range(steps):
            sl = slice(g * reduction, min(13, (g + 1) * reduction))
            frames = dec.step(prev, cond[:, sl], state)
            assert frames.shape == (3, sl.stop - sl.start, N_MELS)
            torch.testing.assert_close(frames, ref["mel_norm"][..., sl].transpose(1, 2), atol=1e-5, rtol=1e-5)
            prev = target[:, sl.stop - 1]


@pytest.mark.parametrize("padded", [False, True])
def test_kv_cache_in_chunks_equals_full_causal_attention(padded):
    """The preallocated cache, filled in chunks of 3, 1, 1, 2 and 1 positions, gives what attention over the whole
    sequence at once gives; padded keys of a memory stay masked."""
    torch.manual_seed(0)
    attn = MultiHeadAttention(16, 4).eval()
    x = torch.randn(2, 8, 16)
    with torch.no_grad():
        full, _ = attn(x, causal=True)
        cache = attn.new_cache(capacity=8)
        parts, start = [], 0
        for size in (3, 1, 1, 2, 1):
            parts.append(attn(x[:, start : start + size], causal=True, cache=cache)[0])
            start += size
        torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-6, rtol=1e-6)
        assert cache.length == 8
        with pytest.raises(ValueError, match="cannot hold 9"):
            attn(x[:, :1], causal=True, cache=cache)
        if padded:  # key_bias (made once) masks exactly as key_padding_mask does
            mask = lengths_to_padding_mask(torch.tensor([8, 5]), 8)
            kv = attn.project_kv(x)
            a, wa = attn(x[:, :1], kv=kv, key_padding_mask=mask, need_weights=True)
            b, wb = attn(x[:, :1], kv=kv, key_bias=padding_bias(mask, x.dtype), need_weights=True)
            c, _ = attn(x[:, :1], kv=kv, key_bias=padding_bias(mask, x.dtype))
            assert torch.equal(a, b) and torch.equal(wa, wb) and torch.all(wb[1, :, :, 5:] == 0)
            torch.testing.assert_close(c, a, atol=1e-6, rtol=1e-6)


def test_decoder_state_is_preallocated_and_bounded():
    model = tiny_model()
    dec = model.decoder
    cond = torch.randn(3, 2, 32)  # one step's conditioning: (b, r, d)
    with torch.no_grad():
        state = dec.init_state(max_steps=3)
        prev = torch.zeros(3, N_MELS)
        frames = dec.step(prev, cond, state)
        storage = [c._k.data_ptr() for c in state.caches]
        for _ in range(2):
            frames = dec.step(frames[:, -1], cond, state)
        assert [c._k.data_ptr() for c in state.caches] == storage  # written in place, never reallocated
        assert state.step == 3
        with pytest.raises(ValueError, match="exceeds the 3 steps"):
            dec.step(prev, cond, state)
        with pytest.raises(ValueError, match="max_steps must lie in 1..64"):
            dec.init_state(max_steps=65)


# ------------------------------------------------------------------------------------------------ int8 weights
# Tolerance of int8 against float32 mels: a relative error (norm of the difference / norm of the float mel, in the
# decoder's normalised domain) below 5%, teacher-forced with the same conditioning, so that every step reads the
# same inputs in both (free running feeds each step its own output and may drift apart). Per-tensor int8 weights
# (steps of max|w| / 127) and inputs quantised per call (7-bit on x86, for fbgemm) add about 1% each through ~10
# linear layers. 5% leaves room for other seeds and CPUs; a wrong projection (swapped, missing bias) gives O(1).
INT8_REL_TOL = 0.05


def relative_error(x: torch.Tensor, ref: torch.Tensor) -> float:
    """||x - ref|| / ||ref|| over all elements."""
    return float((x - ref).norm() / ref.norm())


def teacher_forced_steps(model: TTSModel, mel: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """The KV-cached step loop fed the target's frames -> frames (b, t, n_mels), normalised (t a multiple of r)."""
    dec, r = model.decoder, model.decoder.reduction
    inputs = dec.shift_targets(model.normalize(mel).transpose(1, 2))
    state = dec.init_state(max_steps=inputs.shape[1])
    return torch.cat([dec.step(inputs[:, s], cond[:, s * r : (s + 1) * r], state) for s in range(inputs.shape[1])],
                     dim=1)  # fmt: skip


def test_int8_mels_are_close_to_float_teacher_forced():
    model = tiny_model()
    quantized = int8_weights(model)
    ids, id_lens, spk, mel, _ = batch(t=24)
    mel_lens = torch.full_like(id_lens, 24)
    with torch.no_grad():
        memory = model.encode(ids, id_lens, spk)
        assert relative_error(quantized.encode(ids, id_lens, spk), memory) < INT8_REL_TOL
        assert relative_error(quantized.predict_durations(memory, id_lens), model.predict_durations(memory, id_lens)
                              ) < INT8_REL_TOL  # fmt: skip
        cond = fixed_cond(model, ids, id_lens, spk, mel_lens, 24)
        frames = model.normalize(mel).transpose(1, 2)
        ref = model.decoder(frames, cond, mel_lens)
        out = quantized.decoder(frames, cond, mel_lens)
        assert relative_error(out["mel_post"], ref["mel_post"]) < INT8_REL_TOL
        # the KV-cached path: quantised projections are called one by one (no fused float weight to build)
        assert quantized.decoder.layers[0].self_attn.new_cache(4).in_proj is None
        steps = teacher_forced_steps(quantized, mel, cond)
        assert relative_error(steps, teacher_forced_steps(model, mel, cond)) < INT8_REL_TOL
        assert relative_error(steps, ref["mel"]) < INT8_REL_TOL
    # free running, with the given durations: exactly their lengths
    mel_q, lengths_q, hit_cap = quantized.generate(ids, id_lens, spk, max_frames=20, durations=DURATIONS)
    assert lengths_q.tolist() == TOTALS and not hit_cap.any() and torch.isfinite(mel_q).all()


def test_int8_copy_leaves_the_float_model_and_its_fused_cache_alone():
    model = tiny_model()
    ids, id_lens, spk, _, _ = batch()
    before = model.generate(ids, id_lens, spk, max_frames=12)[0]
    quantized = int8_weights(model)
    attn = model.decoder.layers[0].self_attn
    weight, bias = attn.new_cache(4).in_proj  # float32: q/k/v fused into one (3d, d) weight
    assert weight.shape == (3 * 32, 32) and bias.shape == (3 * 32,)
    assert isinstance(attn.q_proj, torch.nn.Linear) and not isinstance(
        quantized.decoder.layers[0].self_attn.q_proj, torch.nn.Linear
    )
    assert torch.equal(model.generate(ids, id_lens, spk, max_frames=12)[0], before)


# ---------------------------------------------------------------------------------------------------- generation
def test_generate_with_given_durations_gives_their_sum():
    model = tiny_model()
    ids, id_lens, spk, _, _ = batch()
    mel, lengths, hit_cap = model.generate(ids, id_lens, spk, max_frames=40, durations=DURATIONS)
    assert lengths.tolist() == TOTALS and not hit_cap.any()  # padding entries of DURATIONS (9s) ignored
    assert mel.shape == (3, N_MELS, max(TOTALS))
    assert torch.all(mel[1, :, 9:] == SILENCE) and torch.all(mel[1, :, :9] != SILENCE)
    assert not any(x.is_inference() for x in (mel, lengths, hit_cap))  # ordinary tensors: usable with autograd
    # the predicted durations: at least one frame per phoneme, however short the predictor says
    set_durations(model, 1e-4)
    _, lengths, hit_cap = model.generate(ids, id_lens, spk, max_frames=40)
    assert lengths.tolist() == id_lens.tolist() and not hit_cap.any()
    set_durations(model, 3.0)  # 3 frames for every phoneme
    _, lengths, _ = model.generate(ids, id_lens, spk, max_frames=40)
    assert lengths.tolist() == (3 * id_lens).tolist()


def test_pace_scales_the_predicted_durations():
    model = set_durations(tiny_model(), 4.0)
    ids, id_lens, spk, _, _ = batch()
    _, normal, _ = model.generate(ids, id_lens, spk, max_frames=128)
    _, fast, _ = model.generate(ids, id_lens, spk, max_frames=128, pace=2.0)
    _, slow, _ = model.generate(ids, id_lens, spk, max_frames=128, pace=0.5)
    assert normal.tolist() == (4 * id_lens).tolist()
    assert fast.tolist() == (2 * id_lens).tolist() and slow.tolist() == (8 * id_lens).tolist()
    # varied durations: pace 2 halves each phoneme's, up to rounding (3/4 of a frame per phoneme at most)
    model = set_durations(tiny_model(), 4.0, spread=1.0)
    with torch.no_grad():
        d = model.predict_durations(model.encode(ids, id_lens, spk), id_lens).exp()
    assert d[0, :7].max() / d[0, :7].min() > 1.5, "test needs durations that differ between phonemes"
    _, normal, _ = model.generate(ids, id_lens, spk, max_frames=128)
    _, fast, _ = model.generate(ids, id_lens, spk, max_frames=128, pace=2.0)
    assert torch.all((fast.float() - normal.float() / 2).abs() <= 0.75 * id_lens)
    assert torch.all(fast < normal)
    # given durations are spoken as given, whatever the pace
    assert model.generate(ids, id_lens, spk, max_frames=40, durations=DURATIONS, pace=2.0)[1].tolist() == TOTALS


def test_generate_with_and_without_cache_agree():
    model = set_durations(tiny_model(), 4.0, spread=0.5)
    ids, id_lens, spk, _, _ = batch()
    caps = torch.tensor([40, 40, 7])
    for durations in (DURATIONS, None):  # given, and predicted
        mel_a, len_a, cap_a = model.generate(ids, id_lens, spk, max_frames=caps, durations=durations)
        mel_b, len_b, cap_b = model.generate(ids, id_lens, spk, max_frames=caps, durations=durations,
                                             use_cache=False)  # fmt: skip
        assert len(set(len_a.tolist())) == 3 and cap_a.tolist() == [False, False, True]
        assert torch.equal(len_a, len_b) and torch.equal(cap_a, cap_b)
        torch.testing.assert_close(mel_a, mel_b, atol=1e-5, rtol=1e-5)


def test_batched_generate_equals_item_by_item():
    model = set_durations(tiny_model(), 4.0, spread=0.5)
    ids, id_lens, spk, _, _ = batch()
    caps = torch.tensor([40, 40, 8])
    for durations in (DURATIONS, None):  # given, and predicted (the predictor ignores padding)
        mel, lengths, hit_cap = model.generate(ids, id_lens, spk, max_frames=caps, durations=durations)
        assert len(set(lengths.tolist())) == 3 and hit_cap.tolist() == [False, False, True], "items must end apart"
        assert mel.shape[-1] == int(lengths.max())
        for i in range(3):
            n = int(id_lens[i])
            given = None if durations is None else durations[i : i + 1, :n]
            m_i, l_i, c_i = model.generate(ids[i : i + 1, :n], id_lens[i : i + 1], spk[i : i + 1],
                                           max_frames=int(caps[i]), durations=given)  # fmt: skip
            assert int(l_i) == int(lengths[i]) and bool(c_i) == bool(hit_cap[i])
            torch.testing.assert_close(mel[i : i + 1, :, : int(l_i)], m_i, atol=1e-5, rtol=1e-5)
            assert torch.all(mel[i, :, int(l_i) :] == SILENCE)  # silence beyond the item's length


def test_cap_is_reported_and_decode_terminates(monkeypatch):
    model = tiny_model(reduction=2)
    ids, id_lens, spk, _, _ = batch()
    steps = []
    real_step = model.decoder.step
    monkeypatch.setattr(model.decoder, "step", lambda *a: steps.append(1) or real_step(*a))
    caps = torch.tensor([5, 8, 3])
    durations = torch.full_like(ids, 10)  # 70, 40, 50 frames: far past the caps
    mel, lengths, hit_cap = model.generate(ids, id_lens, spk, max_frames=caps, durations=durations)
    assert lengths.tolist() == [5, 8, 3]
    assert hit_cap.all()
    assert mel.shape == (3, N_MELS, 8)
    assert len(steps) == 4  # the longest cap (8 frames) in steps of 2, not the 70 frames of the durations
    # the guards derive the caps from the id counts: 7, 4, 5 ids at 2 frames per id -> 14, 8, 10 frames
    set_durations(model, 100.0)
    _, lengths, hit_cap = generate_guarded(model, ids, id_lens, spk, LengthGuards(max_len_ratio=2.0))
    assert lengths.tolist() == [14, 8, 10] and hit_cap.all()
    # and the absolute cap: max_seconds of frames (0.1 s at 93.75 frames/s -> 9), then the decoder's positions
    _, lengths, _ = generate_guarded(model, ids, id_lens, spk, LengthGuards(max_len_ratio=2.0, max_seconds=0.1))
    assert lengths.tolist() == [9, 8, 9]
    _, lengths, _ = generate_guarded(model, ids, id_lens, spk, LengthGuards(max_len_ratio=100.0, max_seconds=60))
    assert lengths.tolist() == [128, 128, 128]  # max_len 64 steps x reduction 2


def test_bad_generation_arguments_refused():
    model = tiny_model()
    ids, id_lens, spk, _, _ = batch()
    with pytest.raises(ValueError, match="max_frames must lie in 1..128"):
        model.generate(ids, id_lens, spk, max_frames=129)
    with pytest.raises(ValueError, match="max_frames must lie in 1..128"):
        model.generate(ids, id_lens, spk, max_frames=torch.tensor([5, 0, 5]))
    with pytest.raises(ValueError, match=r"max_frames must be an int or have shape \(3,\)"):
        model.generate(ids, id_lens, spk, max_frames=torch.tensor([5, 5]))
    for pace in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="pace must be positive"):
            model.generate(ids, id_lens, spk, max_frames=10, pace=pace)
    with pytest.raises(ValueError, match=r"durations must have the shape of ids \(3, 7\), got \(3, 6\)"):
        model.generate(ids, id_lens, spk, max_frames=10, durations=DURATIONS[:, :6])
    negative = DURATIONS.clone()
    negative[0, 1] = -2
    for bad in (negative, DURATIONS.float()):
        with pytest.raises(ValueError, match="durations must be whole numbers of frames >= 0"):
            model.generate(ids, id_lens, spk, max_frames=10, durations=bad)


def test_prenet_dropout_flag():
    ids, id_lens, spk, _, _ = batch()
    noisy = tiny_model(prenet_at_inference=True)
    a = noisy.generate(ids, id_lens, spk, max_frames=20, durations=DURATIONS)[0]
    b = noisy.generate(ids, id_lens, spk, max_frames=20, durations=DURATIONS)[0]
    assert not torch.allclose(a, b)  # dropout is live in eval mode
    noisy.decoder.prenet.always_dropout = False
    a = noisy.generate(ids, id_lens, spk, max_frames=20, durations=DURATIONS)[0]
    b = noisy.generate(ids, id_lens, spk, max_frames=20, durations=DURATIONS)[0]
    torch.testing.assert_close(a, b)


def test_speaker_out_of_range_refused():
    model = tiny_model()
    ids, id_lens, _, mel, mel_lens = batch()
    bad = torch.tensor([0, 3, 1])
    with pytest.raises(ValueError, match=r"speaker id 3 is out of range: the model has 3 speaker"):
        model(ids, id_lens, bad, mel, mel_lens)
    with pytest.raises(ValueError, match=r"speaker id -1 is out of range"):
        model.generate(ids, id_lens, torch.tensor([0, -1, 1]), max_frames=4)


# ---------------------------------------------------------------------------------------------------------- loss
def test_loss_masks_padding_and_its_alignment_terms_are_finite():
    model = tiny_model()
    ids, id_lens, spk, mel, mel_lens = batch(t=13)  # lengths 13, 10, 7
    out = model(ids, id_lens, spk, mel, mel_lens, prior_sigma=0.5)
    loss, stats = tts_loss(out, mel_lens, id_lens)
    assert set(stats) == LOSS_KEYS and all(torch.isfinite(v) for v in stats.values())
    assert stats["align"] > 0 and stats["duration"] > 0
    # predictions in the padding do not count; in the valid frames they do
    pad = (torch.arange(13) >= mel_lens[:, None])[:, None]
    for key in ("mel_norm", "mel_post_norm"):
        shifted = dict(out, **{key: out[key] + 3.0 * pad})
        torch.testing.assert_close(tts_loss(shifted, mel_lens, id_lens)[0], loss)
        assert tts_loss(dict(out, **{key: out[key] + 3.0 * ~pad}), mel_lens, id_lens)[0] > loss + 1.0
    # the duration term: squared error in log frames over the valid phonemes only
    tokens = ~lengths_to_padding_mask(id_lens, 7)
    exact = torch.log(out["durations"].float().clamp(min=1)).masked_fill(~tokens, 50.0)
    exact_stats = tts_loss(dict(out, log_duration_pred=exact), mel_lens, id_lens)[1]
    assert exact_stats["duration"] == 0 and float(exact_stats["length"]) == pytest.approx(0.0, abs=1e-10)
    off = torch.log(out["durations"].float().clamp(min=1)) + 0.5
    off_stats = tts_loss(dict(out, log_duration_pred=off), mel_lens, id_lens)[1]
    assert float(off_stats["duration"]) == pytest.approx(0.25)
    assert float(off_stats["length"]) == pytest.approx(0.25, rel=1e-4)  # every total e^0.5 times too long
    # the length term sees what the per-phoneme term misses: errors that cancel in log space, not in frames
    swing = torch.log(out["durations"].float().clamp(min=1)) + 0.5 * torch.tensor([1.0, -1.0]).repeat(4)[:7]
    assert float(tts_loss(dict(out, log_duration_pred=swing), mel_lens, id_lens)[1]["length"]) > 0
    # the weights
    mel_terms = stats["l1"] + stats["l2"] + stats["l1_post"] + stats["l2_post"]
    torch.testing.assert_close(tts_loss(out, mel_lens, id_lens, align_weight=0.0, duration_weight=0.0)[0], mel_terms)
    torch.testing.assert_close(tts_loss(out, mel_lens, id_lens, align_weight=2.0, duration_weight=0.5)[0],
                               mel_terms + 2.0 * stats["align"] + 0.5 * (stats["duration"] + stats["length"]))
    # finite gradients everywhere they reach (the aligner, the predictor, the decoder, the encoder)
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for name, g in grads.items() if "duration_predictor" in name
               or "aligner" in name or "decoder" in name)  # fmt: skip
    assert grads["aligner.log_scale"].abs() > 0 and grads["duration_predictor.head.bias"].abs() > 0


def test_prior_sigma_schedule():
    assert prior_sigma(0, start=0.2, end=1.0, fade_start=10, fade_end=30) == 0.2
    assert prior_sigma(10, start=0.2, end=1.0, fade_start=10, fade_end=30) == 0.2
    assert prior_sigma(20, start=0.2, end=1.0, fade_start=10, fade_end=30) == pytest.approx(0.6)
    assert prior_sigma(31, start=0.2, end=1.0, fade_start=10, fade_end=30) == 1.0
    with pytest.raises(ValueError, match="fade_end 5 is before fade_start 10"):
        prior_sigma(0, fade_start=10, fade_end=5)


def test_loss_falls_when_overfitting_four_utterances():
    torch.manual_seed(0)
    model = TTSModel(tiny_config())
    g = torch.Generator().manual_seed(3)
    id_lens = torch.tensor([6, 5, 4, 6])
    ids = torch.randint(1, VOCAB, (4, 6), generator=g).masked_fill(torch.arange(6) >= id_lens[:, None], 0)
    spk = torch.tensor([0, 1, 2, 0])
    mel = torch.randn(4, N_MELS, 16, generator=g) * 2.0 - 1.3
    mel_lens = torch.tensor([16, 14, 12, 10])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    history = []
    for step in range(60):
        out = model(ids, id_lens, spk, mel, mel_lens, prior_sigma=prior_sigma(step, fade_start=20, fade_end=40))
        loss, stats = tts_loss(out, mel_lens, id_lens)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(stats)

    def mean(key: str, part: list[dict]) -> float:
        return sum(float(s[key]) for s in part) / len(part)

    first, last = history[:5], history[-5:]
    assert mean("loss", last) < 0.6 * mean("loss", first)
    assert mean("l1_post", last) < 0.8 * mean("l1_post", first)
    assert mean("duration", last) < 0.5 * mean("duration", first)
    assert mean("align", last) < 0.5 * mean("align", first)


# -------------------------------------------------------------------------------------------------------- export
def tiny_vocab(extra: str = "abcdefg"):
    from scraps.text.vocab import SPECIALS, PhonemeVocab

    return PhonemeVocab(list(SPECIALS) + list(extra))


def test_save_load_round_trip(tmp_path):
    model = set_durations(tiny_model(prenet_at_inference=False), 4.0, spread=0.5)
    ids, id_lens, spk, mel, mel_lens = batch()
    model.save_pretrained(tmp_path / "tts", tiny_vocab(), ["ann", "bob", "cy"], frontend_config={"g2p": "espeak"})
    loaded = TTSModel.from_pretrained(tmp_path / "tts")
    assert not loaded.training
    assert loaded.config == model.config
    assert (loaded.config.aligner_dim, loaded.config.duration_channels) == (8, 16)
    assert loaded.vocab == tiny_vocab() and loaded.speakers == ["ann", "bob", "cy"]
    assert loaded.frontend_config == {"g2p": "espeak"}
    with torch.no_grad():
        a, b = model(ids, id_lens, spk, mel, mel_lens), loaded(ids, id_lens, spk, mel, mel_lens)
    for key in ("mel", "align_log_p", "durations", "log_duration_pred"):
        assert torch.equal(a[key], b[key]), key
    ga, gb = model.generate(ids, id_lens, spk, max_frames=30), loaded.generate(ids, id_lens, spk, max_frames=30)
    assert all(torch.equal(x, y) for x, y in zip(ga, gb))


def test_an_export_without_the_aligner_or_duration_predictor_is_refused(tmp_path):
    from scraps.export import ModelDirError, load_model_dir, save_model_dir

    tiny_model().save_pretrained(tmp_path / "tts", tiny_vocab(), ["ann", "bob", "cy"])
    config, state, extras = load_model_dir(tmp_path / "tts", "tts")
    old = {k: v for k, v in state.items() if not k.startswith(("aligner.", "duration_predictor."))}
    save_model_dir(tmp_path / "old", "tts", config, old, extra_json=extras)
    with pytest.raises(ModelDirError, match=r"weights do not fit the config \(missing \['aligner"):
        TTSModel.from_pretrained(tmp_path / "old")


def test_save_refuses_wrong_speakers_or_vocab(tmp_path):
    model = tiny_model()
    with pytest.raises(ValueError, match="speakers must be 3 distinct names"):
        model.save_pretrained(tmp_path / "x", tiny_vocab(), ["ann", "bob"])
    with pytest.raises(ValueError, match="vocabulary has 13 symbols but the model was built for 12"):
        model.save_pretrained(tmp_path / "x", tiny_vocab("abcdefgh"), ["ann", "bob", "cy"])


def scraps_export(path, vocab, dim: int = 32) -> dict[str, torch.Tensor]:
    from scraps.model import ScrapsConfig, ScrapsModel

    torch.manual_seed(42)
    phonetic = EncoderConfig(dim=dim, layers=2, heads=2, ff_mult=2, dropout=0.0, max_len=64)
    acoustic = EncoderConfig(dim=16, layers=1, heads=2, ff_mult=2, dropout=0.0, max_len=64)
    cfg = ScrapsConfig(vocab_size=len(vocab), phonetic=phonetic, acoustic=acoustic, integrator_dim=16, embed_dim=8)
    scraps = ScrapsModel(cfg)
    with torch.no_grad():  # as after training: no tensor left at a shared init value (LayerNorm ones, ...)
        for p in scraps.parameters():
            p.add_(0.1 * torch.randn_like(p))
    scraps.save_pretrained(path, vocab)
    return scraps.state_dict()


def test_init_encoder_from_scraps_copies_exactly_the_encoder(tmp_path):
    scraps_state = scraps_export(tmp_path / "scraps", tiny_vocab())
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    copied = model.init_encoder_from_scraps(tmp_path / "scraps", vocab=tiny_vocab())
    after = model.state_dict()
    encoder_names = sorted(k for k in after if k.startswith("phonetic_encoder."))
    assert copied == encoder_names and len(copied) > 10
    for k in after:
        if k in copied:
            assert torch.equal(after[k], scraps_state[k]), k
            assert not torch.equal(after[k], before[k]), k
        else:
            assert torch.equal(after[k], before[k]), k


def test_init_encoder_from_scraps_refuses_mismatches(tmp_path):
    from scraps.export import ModelDirError, load_model_dir, save_model_dir

    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scraps_export(tmp_path / "narrow", tiny_vocab(), dim=16)
    with pytest.raises(ModelDirError, match="encoder dim 32 != SCRAPS phonetic dim 16"):
        model.init_encoder_from_scraps(tmp_path / "narrow", vocab=tiny_vocab())
    scraps_export(tmp_path / "other_vocab", tiny_vocab("abcdxfg"))
    with pytest.raises(ModelDirError, match="phoneme vocabulary differs.*id 9 is 'e' here but 'x' there"):
        model.init_encoder_from_scraps(tmp_path / "other_vocab", vocab=tiny_vocab())
    # a directory with the SCRAPS layout but one encoder tensor missing
    scraps_export(tmp_path / "ok", tiny_vocab())
    config, state, extras = load_model_dir(tmp_path / "ok", "scraps")
    del state["phonetic_encoder.norm.weight"]
    save_model_dir(tmp_path / "holey", "scraps", config, state, extra_json=extras)
    with pytest.raises(ModelDirError, match=r"missing \['phonetic_encoder.norm.weight'\]"):
        model.init_encoder_from_scraps(tmp_path / "holey", vocab=tiny_vocab())
    with pytest.raises(ValueError, match="pass vocab="):
        model.init_encoder_from_scraps(tmp_path / "ok")
    after = model.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in after)  # refusals copy nothing
