"""TTS model: causality, KV cache equivalence, batched/per-item generation, stopping, export, encoder init, loss."""
from __future__ import annotations

import pytest
import torch

from scraps.nn.config import EncoderConfig
from scraps.nn.layers import MultiHeadAttention, lengths_to_padding_mask, padding_bias
from tts.decoder import DecoderConfig
from tts.inference import LengthGuards, generate_guarded, int8_weights
from tts.loss import focus_rate, guided_attention_loss, guided_attention_weight, tts_loss
from tts.model import SILENCE, TTSConfig, TTSModel

VOCAB = 12
N_MELS = 100


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
    return TTSConfig(vocab_size=VOCAB, encoder=enc, decoder=dec, n_speakers=3, speaker_dim=8, **kw)


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


def make_stop_vary(model: TTSModel) -> None:
    """Sharpen the random stop head so items of :func:`batch` stop by themselves at different steps (14, 12, 24)."""
    with torch.no_grad():
        model.decoder.stop_head.weight.mul_(4.0)
        model.decoder.stop_head.bias.sub_(0.5)


# ------------------------------------------------------------------------------------------------- teacher forcing
@pytest.mark.parametrize("reduction", [1, 2, 3])
def test_teacher_forcing_is_causal(reduction):
    model = tiny_model(reduction=reduction)
    ids, id_lens, spk, mel, mel_lens = batch()
    mel_lens = torch.full_like(mel_lens, mel.shape[-1])
    with torch.no_grad():
        ref = model(ids, id_lens, spk, mel, mel_lens)
        for k in (0, 3, 4, 7):
            changed = mel.clone()
            changed[:, :, k] += 5.0
            out = model(ids, id_lens, spk, changed, mel_lens)
            group = k // reduction
            unchanged_frames = (group + 1) * reduction  # a frame feeds only the steps after its group
            torch.testing.assert_close(out["mel_norm"][..., :unchanged_frames], ref["mel_norm"][..., :unchanged_frames])
            torch.testing.assert_close(out["stop"][:, : group + 1], ref["stop"][:, : group + 1])
            for a, b in zip(out["attn"], ref["attn"]):
                torch.testing.assert_close(a[:, :, : group + 1], b[:, :, : group + 1])
            if k % reduction == reduction - 1:  # the last frame of a group is the next step's input
                assert not torch.allclose(out["mel_norm"][..., unchanged_frames:], ref["mel_norm"][..., unchanged_frames:])
            else:  # other frames are never decoder inputs
                torch.testing.assert_close(out["mel_norm"], ref["mel_norm"])


def test_padding_content_does_not_leak_into_valid_outputs():
    model = tiny_model()
    ids, id_lens, spk, mel, mel_lens = batch()
    noisy = mel.clone()
    pad = torch.arange(mel.shape[-1]) >= mel_lens[:, None]
    noisy = noisy + 9.0 * pad[:, None, :]
    with torch.no_grad():
        a = model(ids, id_lens, spk, mel, mel_lens)
        b = model(ids, id_lens, spk, noisy, mel_lens)
        single = model(ids[2:, : id_lens[2]], id_lens[2:], spk[2:], mel[2:, :, : mel_lens[2]], mel_lens[2:])
    for key in ("mel_norm", "mel_post_norm"):
        valid = ~pad[:, None, :].expand_as(a[key])
        torch.testing.assert_close(a[key][valid], b[key][valid])
    # a padded item equals the same item alone, postnet included
    torch.testing.assert_close(a["mel"][2:, :, : mel_lens[2]], single["mel"], atol=1e-5, rtol=1e-5)


def test_odd_length_targets_are_cropped_back():
    model = tiny_model(reduction=3)
    ids, id_lens, spk, mel, mel_lens = batch(t=13)
    with torch.no_grad():
        out = model(ids, id_lens, spk, mel, mel_lens)
    assert out["mel"].shape == (3, N_MELS, 13)
    assert out["stop"].shape == (3, 5)
    assert out["attn"][-1].shape == (3, 2, 5, 7)


@pytest.mark.parametrize("reduction", [1, 2])
def test_incremental_decoding_matches_teacher_forcing(reduction):
    model = tiny_model(reduction=reduction)
    ids, id_lens, spk, mel, mel_lens = batch(t=12)
    mel_lens = torch.full_like(mel_lens, 12)
    with torch.no_grad():
        ref = model(ids, id_lens, spk, mel, mel_lens)
        dec = model.decoder
        target = model.normalize(mel).transpose(1, 2)  # (b, t, c)
        state = dec.init_state(model.encode(ids, id_lens, spk), id_lens, need_weights=True)
        prev = torch.zeros(3, N_MELS)
        for g in range(12 // reduction):
            frames, stop, attn = dec.step(prev, state)
            sl = slice(g * reduction, (g + 1) * reduction)
            torch.testing.assert_close(frames, ref["mel_norm"][..., sl].transpose(1, 2), atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(stop, ref["stop"][:, g], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(attn, ref["attn"][-1][:, :, g].mean(1), atol=1e-5, rtol=1e-5)
            assert torch.all(attn[1, id_lens[1] :] == 0)  # padded phonemes get no attention
            prev = target[:, (g + 1) * reduction - 1]


@pytest.mark.parametrize("padded", [False, True])
def test_kv_cache_in_chunks_equals_full_causal_attention(padded):
    """The preallocated cache, filled in chunks of 3, 1, 1, 2 and 1 positions, gives what attention over the whole
    sequence at once gives (the result the old concatenating cache gave); padded keys of a memory stay masked."""
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
    ids, id_lens, spk, _, _ = batch()
    dec = model.decoder
    with torch.no_grad():
        state = dec.init_state(model.encode(ids, id_lens, spk), id_lens, max_steps=3)
        prev = torch.zeros(3, N_MELS)
        frames, _, _ = dec.step(prev, state)
        storage = [c._k.data_ptr() for c in state.caches]
        for _ in range(2):
            frames, _, _ = dec.step(frames[:, -1], state)
        assert [c._k.data_ptr() for c in state.caches] == storage  # written in place, never reallocated
        with pytest.raises(ValueError, match="exceeds the 3 steps"):
            dec.step(prev, state)
        with pytest.raises(ValueError, match="max_steps must lie in 1..64"):
            dec.init_state(model.encode(ids, id_lens, spk), id_lens, max_steps=65)


# ------------------------------------------------------------------------------------------------ int8 weights
# Tolerance of int8 against float32 mels: a relative error (norm of the difference / norm of the float mel, in the
# decoder's normalised domain) below 5%, teacher-forced, so that every step reads the same inputs in both (free
# running feeds each step its own output and may drift apart). Per-tensor int8 weights (steps of max|w| / 127)
# and inputs quantised per call (7-bit on x86, for fbgemm) add about 1% each through ~10 linear layers: these
# tiny random models measure 1.6-2.3% (a 30 M LJSpeech-sized random model 2.6%, the 400-step demo exports
# 1.5-1.8%). 5% leaves room for other seeds and CPUs; a wrong projection (swapped, missing bias) gives O(1).
INT8_REL_TOL = 0.05


def relative_error(x: torch.Tensor, ref: torch.Tensor) -> float:
    """||x - ref|| / ||ref|| over all elements."""
    return float((x - ref).norm() / ref.norm())


def teacher_forced_steps(model: TTSModel, ids, id_lens, spk, mel) -> torch.Tensor:
    """The KV-cached step loop fed the target's frames -> frames (b, t, n_mels), normalised (t a multiple of r)."""
    dec = model.decoder
    inputs = dec.shift_targets(model.normalize(mel).transpose(1, 2))
    state = dec.init_state(model.encode(ids, id_lens, spk), id_lens, max_steps=inputs.shape[1])
    return torch.cat([dec.step(inputs[:, s], state)[0] for s in range(inputs.shape[1])], dim=1)


def test_int8_mels_are_close_to_float_teacher_forced():
    model = tiny_model()
    quantized = int8_weights(model)
    ids, id_lens, spk, mel, _ = batch(t=24)
    mel_lens = torch.full_like(id_lens, 24)
    with torch.no_grad():
        ref = model(ids, id_lens, spk, mel, mel_lens)
        out = quantized(ids, id_lens, spk, mel, mel_lens)
        assert relative_error(out["mel_post_norm"], ref["mel_post_norm"]) < INT8_REL_TOL
        assert relative_error(out["stop"], ref["stop"]) < INT8_REL_TOL
        # the KV-cached path: quantised projections are called one by one (no fused float weight to build)
        assert quantized.decoder.layers[0].self_attn.new_cache(4).in_proj is None
        steps = teacher_forced_steps(quantized, ids, id_lens, spk, mel)
        assert relative_error(steps, teacher_forced_steps(model, ids, id_lens, spk, mel)) < INT8_REL_TOL
        assert relative_error(steps, ref["mel_norm"].transpose(1, 2)) < INT8_REL_TOL
    mel_q, lengths_q, hit_cap = quantized.generate(ids, id_lens, spk, max_frames=20, stop_threshold=1.1)
    assert lengths_q.tolist() == [20, 20, 20] and hit_cap.all() and torch.isfinite(mel_q).all()  # free running


def test_int8_copy_leaves_the_float_model_and_its_fused_cache_alone():
    model = tiny_model()
    ids, id_lens, spk, _, _ = batch()
    before = model.generate(ids, id_lens, spk, max_frames=12)[0]
    quantized = int8_weights(model)
    attn = model.decoder.layers[0].self_attn
    weight, bias = attn.new_cache(4).in_proj  # float32: q/k/v fused into one (3d, d) weight, as before
    assert weight.shape == (3 * 32, 32) and bias.shape == (3 * 32,)
    assert isinstance(attn.q_proj, torch.nn.Linear) and not isinstance(
        quantized.decoder.layers[0].self_attn.q_proj, torch.nn.Linear
    )
    assert torch.equal(model.generate(ids, id_lens, spk, max_frames=12)[0], before)


# ---------------------------------------------------------------------------------------------------- generation
def test_generate_with_and_without_cache_agree():
    model = tiny_model()
    make_stop_vary(model)
    ids, id_lens, spk, _, _ = batch()
    mel_a, len_a, cap_a = model.generate(ids, id_lens, spk, max_frames=30)
    mel_b, len_b, cap_b = model.generate(ids, id_lens, spk, max_frames=30, use_cache=False)
    assert len(set(len_a.tolist())) > 1 and not cap_a.all(), "test needs items that stop by themselves"
    assert torch.equal(len_a, len_b) and torch.equal(cap_a, cap_b)
    torch.testing.assert_close(mel_a, mel_b, atol=1e-5, rtol=1e-5)


def test_batched_generate_equals_item_by_item():
    model = tiny_model()
    make_stop_vary(model)
    ids, id_lens, spk, _, _ = batch()
    caps = torch.tensor([30, 30, 9])
    mel, lengths, hit_cap = model.generate(ids, id_lens, spk, max_frames=caps)
    assert len(set(lengths.tolist())) == 3 and hit_cap.tolist() == [False, False, True], "items must stop apart"
    assert mel.shape[-1] == int(lengths.max())
    for i in range(3):
        n = int(id_lens[i])
        m_i, l_i, c_i = model.generate(ids[i : i + 1, :n], id_lens[i : i + 1], spk[i : i + 1], max_frames=int(caps[i]))
        assert int(l_i) == int(lengths[i]) and bool(c_i) == bool(hit_cap[i])
        torch.testing.assert_close(mel[i : i + 1, :, : int(l_i)], m_i, atol=1e-5, rtol=1e-5)
        assert torch.all(mel[i, :, int(l_i) :] == SILENCE)  # silence beyond the item's length


def test_cap_is_reported_and_decode_terminates():
    model = tiny_model(reduction=2)
    ids, id_lens, spk, _, _ = batch()
    caps = torch.tensor([5, 8, 3])
    mel, lengths, hit_cap = model.generate(ids, id_lens, spk, max_frames=caps, stop_threshold=1.0)  # never stops
    assert lengths.tolist() == [5, 8, 3]
    assert hit_cap.all()
    assert mel.shape == (3, N_MELS, 8)


def test_stop_and_min_frames():
    model = tiny_model(reduction=2)
    with torch.no_grad():
        model.decoder.stop_head.bias.fill_(20.0)  # stop as soon as allowed
    ids, id_lens, spk, _, _ = batch()
    _, lengths, hit_cap = model.generate(ids, id_lens, spk, max_frames=20)
    assert lengths.tolist() == [2, 2, 2] and not hit_cap.any()
    _, lengths, hit_cap = model.generate(ids, id_lens, spk, max_frames=20, min_frames=5)
    assert lengths.tolist() == [6, 6, 6] and not hit_cap.any()
    _, lengths, hit_cap = model.generate(ids, id_lens, spk, max_frames=torch.tensor([20, 3, 20]), min_frames=5)
    assert lengths.tolist() == [6, 3, 6] and hit_cap.tolist() == [False, True, False]


def test_min_frames_per_item():
    """Each item keeps its own minimum length, as if decoded alone; LengthGuards derives it from the id count."""
    model = tiny_model(reduction=2)
    with torch.no_grad():
        model.decoder.stop_head.bias.fill_(20.0)  # stop as soon as allowed
    ids, id_lens, spk, _, _ = batch()
    mel, lengths, hit_cap = model.generate(ids, id_lens, spk, max_frames=torch.tensor([20, 20, 7]),
                                           min_frames=torch.tensor([5, 0, 9]))  # fmt: skip
    assert lengths.tolist() == [6, 2, 7] and hit_cap.tolist() == [False, False, True]
    for i, m in enumerate((5, 0, 9)):
        n, cap = int(id_lens[i]), (20, 20, 7)[i]
        m_i, l_i, c_i = model.generate(ids[i : i + 1, :n], id_lens[i : i + 1], spk[i : i + 1], max_frames=cap,
                                       min_frames=m)  # fmt: skip
        assert int(l_i) == int(lengths[i]) and bool(c_i) == bool(hit_cap[i])
        torch.testing.assert_close(mel[i : i + 1, :, : int(l_i)], m_i, atol=1e-5, rtol=1e-5)
    # id_lens 7, 4, 5 with 1.5 frames per id -> at least 11, 6, 8 frames -> ends of the groups of 2: 12, 6, 8
    _, lengths, _ = generate_guarded(model, ids, id_lens, spk, LengthGuards(min_frames=7, min_len_ratio=1.5))
    assert lengths.tolist() == [12, 8, 8]  # the second item's 6 is raised to min_frames 7 -> 8
    _, lengths, _ = generate_guarded(model, ids, id_lens, spk, LengthGuards(min_frames=0, min_len_ratio=1.5))
    assert lengths.tolist() == [12, 6, 8]
    with pytest.raises(ValueError, match=r"min_frames must be an int or have shape \(3,\)"):
        model.generate(ids, id_lens, spk, max_frames=20, min_frames=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="min_frames must be >= 0"):
        model.generate(ids, id_lens, spk, max_frames=20, min_frames=-1)


@pytest.mark.parametrize("check_every", [2, 3, 8, 100])
def test_stop_checked_every_few_steps_gives_the_same_result(check_every):
    model = tiny_model()
    make_stop_vary(model)
    ids, id_lens, spk, _, _ = batch()
    caps = torch.tensor([40, 40, 9])
    ref = model.generate(ids, id_lens, spk, max_frames=caps, min_frames=torch.tensor([0, 26, 0]), check_every=1)
    out = model.generate(ids, id_lens, spk, max_frames=caps, min_frames=torch.tensor([0, 26, 0]),
                         check_every=check_every)  # fmt: skip
    assert len(set(ref[1].tolist())) == 3 and ref[2].tolist() == [False, False, True]
    assert all(torch.equal(a, b) for a, b in zip(ref, out))
    assert not any(t.is_inference() for t in out)  # ordinary tensors: usable with autograd


def test_bad_max_frames_refused():
    model = tiny_model()
    ids, id_lens, spk, _, _ = batch()
    with pytest.raises(ValueError, match="max_frames must lie in 1..128"):
        model.generate(ids, id_lens, spk, max_frames=129)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        model.generate(ids, id_lens, spk, max_frames=torch.tensor([5, 5]))


def test_prenet_dropout_flag():
    ids, id_lens, spk, _, _ = batch()
    noisy = tiny_model(prenet_at_inference=True)
    a = noisy.generate(ids, id_lens, spk, max_frames=8, stop_threshold=1.0)[0]
    b = noisy.generate(ids, id_lens, spk, max_frames=8, stop_threshold=1.0)[0]
    assert not torch.allclose(a, b)  # dropout is live in eval mode
    noisy.decoder.prenet.always_dropout = False
    a = noisy.generate(ids, id_lens, spk, max_frames=8, stop_threshold=1.0)[0]
    b = noisy.generate(ids, id_lens, spk, max_frames=8, stop_threshold=1.0)[0]
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
def test_loss_masks_padding_and_places_the_stop_target():
    model = tiny_model()
    ids, id_lens, spk, mel, mel_lens = batch(t=13)  # lengths 13, 10, 7 -> 7, 5, 4 steps of 2
    out = model(ids, id_lens, spk, mel, mel_lens)
    loss, stats = tts_loss(out, out["target_norm"], mel_lens, id_lens, reduction=2)
    assert torch.isfinite(loss) and set(stats) >= {"l1", "l2", "l1_post", "l2_post", "stop", "guided", "loss"}
    # predictions in the padding do not count
    shifted = dict(out, mel_norm=out["mel_norm"] + 3.0 * (torch.arange(13) >= mel_lens[:, None])[:, None])
    assert torch.allclose(tts_loss(shifted, out["target_norm"], mel_lens, id_lens, reduction=2)[0], loss)
    # stop: 1 exactly at the step holding the last frame, steps after it ignored
    perfect = torch.full((3, 7), -30.0)
    perfect[0, 6] = perfect[1, 4] = perfect[2, 3] = 30.0
    perfect[2, 4:] = 30.0  # padding steps: must not be penalised
    _, s = tts_loss(dict(out, stop=perfect), out["target_norm"], mel_lens, id_lens, reduction=2)
    assert s["stop"] < 1e-6
    perfect[1, 4] = -30.0
    _, s = tts_loss(dict(out, stop=perfect), out["target_norm"], mel_lens, id_lens, reduction=2)
    assert s["stop"] > 1.0


def test_guided_attention_and_focus_rate():
    id_lens, steps = torch.tensor([6]), torch.tensor([6])
    diagonal = torch.eye(6)[None, None]  # (b, h, s, n)
    anti = torch.eye(6).flip(-1)[None, None]
    uniform = torch.full((1, 1, 6, 6), 1 / 6)
    assert guided_attention_loss([diagonal], id_lens, steps) < 1e-6
    assert guided_attention_loss([anti], id_lens, steps) > 0.5
    assert focus_rate(diagonal, steps, id_lens) == pytest.approx(1.0)
    assert focus_rate(uniform, steps, id_lens) == pytest.approx(1 / 6)
    # padded steps / phonemes are ignored
    padded = torch.zeros(1, 1, 8, 9)
    padded[:, :, :6, :6] = diagonal
    padded[:, :, 6:, 7] = 1.0
    assert guided_attention_loss(padded, id_lens, steps) < 1e-6
    assert focus_rate(padded, steps, id_lens) == pytest.approx(1.0)
    assert guided_attention_weight(0, start=2.0, fade_start=10, fade_end=30) == 2.0
    assert guided_attention_weight(20, start=2.0, fade_start=10, fade_end=30) == pytest.approx(1.0)
    assert guided_attention_weight(31, start=2.0, fade_start=10, fade_end=30) == 0.0


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
    for _ in range(60):
        out = model(ids, id_lens, spk, mel, mel_lens)
        loss, stats = tts_loss(out, out["target_norm"], mel_lens, id_lens, reduction=2, guided_weight=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(stats)

    def mean(key: str, part: list[dict]) -> float:
        return sum(float(s[key]) for s in part) / len(part)

    first, last = history[:5], history[-5:]
    assert mean("loss", last) < 0.6 * mean("loss", first)
    assert mean("l1_post", last) < 0.8 * mean("l1_post", first)
    assert mean("stop", last) < 0.5 * mean("stop", first)


# -------------------------------------------------------------------------------------------------------- export
def tiny_vocab(extra: str = "abcdefg"):
    from scraps.text.vocab import SPECIALS, PhonemeVocab

    return PhonemeVocab(list(SPECIALS) + list(extra))


def test_save_load_round_trip(tmp_path):
    model = tiny_model(prenet_at_inference=False)
    ids, id_lens, spk, mel, mel_lens = batch()
    model.save_pretrained(tmp_path / "tts", tiny_vocab(), ["ann", "bob", "cy"], frontend_config={"g2p": "espeak"})
    loaded = TTSModel.from_pretrained(tmp_path / "tts")
    assert not loaded.training
    assert loaded.config == model.config
    assert loaded.vocab == tiny_vocab() and loaded.speakers == ["ann", "bob", "cy"]
    assert loaded.frontend_config == {"g2p": "espeak"}
    with torch.no_grad():
        a, b = model(ids, id_lens, spk, mel, mel_lens), loaded(ids, id_lens, spk, mel, mel_lens)
    assert torch.equal(a["mel"], b["mel"]) and torch.equal(a["stop"], b["stop"])
    ga, gb = model.generate(ids, id_lens, spk, max_frames=10), loaded.generate(ids, id_lens, spk, max_frames=10)
    assert all(torch.equal(x, y) for x, y in zip(ga, gb))


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
