"""Synthesis: tts-synthesize success and error paths, batching, length caps, sentence chunks, vocoders."""
from __future__ import annotations

import io
import math
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from scraps.audio.features import HOP_LENGTH, SAMPLE_RATE, MelSpectrogram
from scraps.nn.config import EncoderConfig
from scraps.text import PhonemeVocab, TextError
from tts.cli import main
from tts.decoder import DecoderConfig
from tts.inference import PAUSE_SECONDS, LengthGuards, Synthesizer, SynthesisError, split_sentences
from tts.model import TTSConfig, TTSModel
from tts.vocoder import (
    VOCOS_CONFIG,
    VOCOS_DIR_ENV,
    VOCOS_HUB_ID,
    VOCOS_MEL_24KHZ_CONFIG,
    GriffinLimVocoder,
    VocoderError,
    build_vocos,
    load_vocoder,
    load_vocos_dir,
    write_vocos_dir,
)

SPEAKERS = ["alice", "bob"]
FRONTEND = {"g2p": "espeak", "language": "en-us", "normalize": False}  # no NeMo: texts here hold no digits
SHORT = 2  # frames per phoneme id of the `short` model
PAUSE = round(PAUSE_SECONDS * SAMPLE_RATE)


def tiny_export(path, frames_per_id: float, seed: int = 0):
    """A random tiny TTS export whose duration predictor gives every phoneme id ``frames_per_id`` frames."""
    torch.manual_seed(seed)
    enc = EncoderConfig(dim=32, layers=1, heads=2, ff_mult=2, dropout=0.0, max_len=512)
    dec = DecoderConfig(
        dim=32, layers=2, heads=2, ff_mult=2, dropout=0.0, prenet_dim=32, prenet_dropout_at_inference=False,
        postnet_channels=32, postnet_layers=2, max_len=512,
    )  # fmt: skip
    vocab = PhonemeVocab.default("espeak")
    model = TTSModel(TTSConfig(len(vocab), enc, dec, n_speakers=len(SPEAKERS), speaker_dim=8)).eval()
    with torch.no_grad():
        model.duration_predictor.head.weight.zero_()
        model.duration_predictor.head.bias.fill_(math.log(frames_per_id))
    return model.save_pretrained(path, vocab, SPEAKERS, frontend_config=FRONTEND)


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    return tiny_export(tmp_path_factory.mktemp("models") / "short", SHORT)


@pytest.fixture(scope="module")
def endless(tmp_path_factory):
    """Durations of 1000 frames per phoneme: every sentence runs into its length cap."""
    return tiny_export(tmp_path_factory.mktemp("models") / "endless", 1000.0, seed=1)


def small_vocos_config() -> dict:
    """The mel-24khz architecture, shrunk (the mel settings and ISTFT head stay those of the released model)."""
    cfg = {k: {**v, "init_args": dict(v["init_args"])} for k, v in VOCOS_MEL_24KHZ_CONFIG.items()}
    cfg["backbone"]["init_args"].update(dim=32, intermediate_dim=64, num_layers=1)
    cfg["head"]["init_args"]["dim"] = 32
    return cfg


@pytest.fixture(scope="module")
def vocos_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = small_vocos_config()
    return write_vocos_dir(tmp_path_factory.mktemp("vocos") / "vocos", build_vocos(config), config)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def n_ids(synth: Synthesizer, text: str) -> int:
    return len(synth.model.vocab.encode(synth.frontend.phonemize(text)))


def chunk_ids(synth: Synthesizer, text: str) -> list[int]:
    """The id count of each sentence chunk that ``synth`` makes of ``text``."""
    chunks = split_sentences(synth.frontend.phonemize(text), synth.max_tokens)
    return [len(synth.model.vocab.encode(c)) for c in chunks]


def short_frames(model_dir, text: str) -> int:
    """Frames the `short` model gives ``text`` if it is one sentence chunk: SHORT per id."""
    [n] = chunk_ids(Synthesizer.from_pretrained(model_dir, vocoder="griffinlim"), text)
    return SHORT * n


# ------------------------------------------------------------------------------------------------- CLI: success
def test_single_text_writes_24khz_16bit_mono(short, tmp_path, capsys):
    out = tmp_path / "sub" / "hello.wav"
    code, stdout, err = run(capsys, "--model", short, "--text", "Hello there, world.", "--out", out,
                            "--vocoder", "griffinlim", "--speaker", "bob")  # fmt: skip
    assert code == 0, err
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (SAMPLE_RATE, 1, "PCM_16", "WAV")
    assert info.frames == short_frames(short, "Hello there, world.") * HOP_LENGTH  # one sentence, SHORT per id
    assert "s of audio in" in stdout and "RTF" in stdout
    assert "speaker 1: bob" in err and "warning" not in err
    audio, _ = sf.read(str(out), dtype="float32")
    assert np.abs(audio).max() > 0


def test_pace_scales_every_phoneme(short, tmp_path, capsys):
    out = tmp_path / "fast.wav"
    code, _, err = run(capsys, "--model", short, "--text", "Hello there, world.", "--out", out, "--vocoder",
                       "griffinlim", "--pace", "2")  # fmt: skip
    assert code == 0, err
    assert sf.info(str(out)).frames == short_frames(short, "Hello there, world.") // SHORT * HOP_LENGTH  # 1 per id
    with pytest.raises(SystemExit) as refused:  # argparse refuses it before anything loads
        run(capsys, "--model", short, "--text", "Hello.", "--out", out, "--pace", "0")
    assert refused.value.code == 2 and "--pace: expected a positive number" in capsys.readouterr().err


def test_text_file_skips_bad_lines_and_writes_the_others(short, tmp_path, capsys):
    lines = tmp_path / "lines.txt"
    lines.write_text("Hello there.\n\n\U0001F600\U0001F389\nA second, good line.\n...\n", encoding="utf-8")
    code, stdout, err = run(capsys, "--model", short, "--text-file", lines, "--out-dir", tmp_path / "wavs",
                            "--vocoder", "griffinlim", "--batch-size", "2")  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "wavs").iterdir()) == ["0001.wav", "0004.wav"]
    assert "skipped line 3" in err and "emoji" in err
    assert "skipped line 5" in err and "punctuation" in err
    assert "wrote 2 file(s)" in err and "skipped 2 line(s)" in err
    assert stdout.count("RTF") == 2


def test_text_file_with_only_bad_lines_fails(short, tmp_path, capsys):
    lines = tmp_path / "lines.txt"
    lines.write_text("!!!\n\u041f\u0440\u0438\u0432\u0435\u0442\n", encoding="utf-8")
    code, _, err = run(capsys, "--model", short, "--text-file", lines, "--out-dir", tmp_path / "w",
                       "--vocoder", "griffinlim")  # fmt: skip
    assert code == 2
    assert "CYRILLIC" in err and "wrote 0 file(s)" in err


def test_text_from_stdin(short, tmp_path, capsys, monkeypatch):
    text = "Words from standard input. And a second sentence!"
    monkeypatch.setattr(sys, "stdin", io.StringIO(text + "\n"))
    out = tmp_path / "stdin.wav"
    code, _, err = run(capsys, "--model", short, "--text", "-", "--out", out, "--vocoder", "griffinlim")
    assert code == 0, err
    ids = chunk_ids(Synthesizer.from_pretrained(short, vocoder="griffinlim"), text)
    assert len(ids) == 2
    assert sf.info(str(out)).frames == SHORT * sum(ids) * HOP_LENGTH + PAUSE  # two sentences and one pause


def test_list_speakers(short, capsys):
    code, stdout, _ = run(capsys, "--model", short, "--list-speakers")
    assert code == 0
    assert stdout.splitlines() == ["0\talice", "1\tbob"]


# ---------------------------------------------------------------------------------------------------- CLI: errors
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--text", ""], "nothing to pronounce: '' (empty)"),
        (["--text", "\U0001F600 \U0001F44D"], "only emoji"),
        (["--text", "\u4f60\u597d\u4e16\u754c"], "CJK"),
        (["--text", "Hello.", "--speaker", "carol"], "unknown speaker 'carol'; this model has 2: alice, bob"),
        (["--text", "Hello.", "--speaker", "7"], "unknown speaker '7'"),
        (["--text", "Hello.", "--device", "tpu"], "device"),
        (["--text", "Hello.", "--vocoder", "./no/such/vocos"], "neither a Vocos directory nor a hub id"),
        (["--text", "Hello.", "--quantize", "int8", "--device", "cuda"],  # the same with or without a GPU
         "--quantize int8 runs on the CPU only (PyTorch's dynamic int8 kernels), not on cuda; use --device cpu"),
    ],
)
def test_user_errors_give_one_line_and_exit_2(short, tmp_path, capsys, extra, message):
    out = tmp_path / "out.wav"
    code, _, err = run(capsys, "--model", short, "--out", out, "--vocoder", "griffinlim", *extra)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, err
    assert "Traceback" not in err and not out.exists()


def test_not_a_tts_export(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "--model", empty, "--text", "Hello.", "--out", tmp_path / "a.wav")
    assert code == 2 and "is not a tts model directory: config.yaml is missing" in err
    code, _, err = run(capsys, "--model", tmp_path / "missing", "--list-speakers")
    assert code == 2 and "model directory not found" in err


@pytest.mark.parametrize("where", ["parent_is_a_file", "is_a_directory", "not_wav"])
def test_unwritable_output_fails_before_synthesis(short, tmp_path, capsys, where):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    out, named = {
        "parent_is_a_file": (blocker / "out.wav", f"cannot create output folder {blocker}"),
        "is_a_directory": (tmp_path, f"output {tmp_path} is a directory"),
        "not_wav": (tmp_path / "out.mp3", "must end in .wav"),
    }[where]
    code, stdout, err = run(capsys, "--model", short, "--text", "Hello.", "--out", out, "--vocoder", "griffinlim")
    assert code == 2 and err.startswith("error: ") and named in err and len(err.strip().splitlines()) == 1
    assert stdout == ""
    code, _, err = run(capsys, "--model", short, "--text-file", blocker, "--out-dir", blocker,
                       "--vocoder", "griffinlim")  # fmt: skip
    assert code == 2 and "cannot create output folder" in err


def test_argument_combinations_are_checked(short, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--model", str(short), "--text", "Hi."])  # no --out
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["--model", str(short), "--text", "Hi.", "--out", str(tmp_path / "a.wav"), "--batch-size", "0"])
    assert "--out" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------- int8 weights
def test_int8_synthesis_end_to_end(endless, vocos_dir, tmp_path, capsys):
    """int8 runs from text to audio; how close its mels are to float32 is tested teacher-forced in
    test_tts_model.py (free running, each step reads its own output)."""
    texts = ["A short one.", "This sentence is rather longer than the first one, with a clause."]
    plain = Synthesizer.from_pretrained(endless, vocoder=str(vocos_dir))
    int8 = Synthesizer.from_pretrained(endless, vocoder=str(vocos_dir), quantize="int8")
    vocos = int8.vocoder.vocos
    assert "int8 backbone" in int8.vocoder.name and isinstance(vocos.head.out, torch.nn.Linear)  # head: float32
    assert not any(isinstance(m, torch.nn.Linear) for m in vocos.backbone.modules())
    assert not any(isinstance(m, torch.nn.Linear) for m in int8.model.decoder.layers.modules())
    assert isinstance(plain.model.decoder.layers[0].self_attn.q_proj, torch.nn.Linear)  # float32 left as it was
    for utt, ref in zip(int8.synthesize_batch(texts), plain.synthesize_batch(texts)):
        assert utt.error is None and utt.capped == ref.capped == 1  # endless durations: both end at the same cap
        assert len(utt.wave) == len(ref.wave) and np.isfinite(utt.wave).all() and np.abs(utt.wave).max() > 0
    with pytest.raises(SynthesisError, match="unknown quantize mode 'int4'"):
        Synthesizer.from_pretrained(endless, vocoder="griffinlim", quantize="int4")
    out = tmp_path / "int8.wav"
    code, _, err = run(capsys, "--model", endless, "--text", texts[0], "--out", out, "--vocoder", "griffinlim",
                       "--quantize", "int8")  # fmt: skip
    assert code == 0, err
    assert "on cpu with int8 weights in" in err and sf.info(str(out)).frames > 0


# ---------------------------------------------------------------------------------------------- batching, caps
def test_batch_equals_single(endless, vocos_dir):
    # Vocos, not Griffin-Lim: its 32 phase iterations with momentum turn float noise of 2e-6 in the mel into 1e-3
    synth = Synthesizer.from_pretrained(endless, vocoder=str(vocos_dir))
    texts = ["A short one.", "This sentence is rather longer than the first one, with a clause.", "Medium length here."]
    batch = synth.synthesize_batch(texts, speaker="bob", batch_size=3)
    lengths = {len(u.wave) for u in batch}
    assert len(lengths) == 3  # different lengths: padding inside the batch is exercised
    for text, utt in zip(texts, batch):
        single, sr = synth.synthesize(text, speaker=1)
        assert sr == SAMPLE_RATE and single.dtype == np.float32
        np.testing.assert_allclose(utt.wave, single, atol=1e-4, rtol=0)
    other_speaker, _ = synth.synthesize(texts[0], speaker="alice")
    assert not np.allclose(other_speaker, batch[0].wave, atol=1e-3)


def test_cap_is_reported_and_bounds_the_length(endless, short, tmp_path, capsys):
    synth = Synthesizer.from_pretrained(endless, vocoder="griffinlim")
    text = "Nobody stops this decoder."
    [utt] = synth.synthesize_batch([text])
    assert utt.hit_cap and utt.capped == utt.sentences == 1
    assert len(utt.wave) == math.ceil(LengthGuards.max_len_ratio * n_ids(synth, text)) * HOP_LENGTH
    assert utt.rtf == pytest.approx(utt.wall_time / utt.duration)
    # the absolute cap holds whatever the ratio
    synth.guards = LengthGuards(max_len_ratio=1000.0, max_seconds=0.5)
    [utt] = synth.synthesize_batch([text])
    assert utt.hit_cap and len(utt.wave) == math.floor(0.5 * SAMPLE_RATE / HOP_LENGTH) * HOP_LENGTH
    # the CLI warns, naming the file; a model with short durations does not warn
    out = tmp_path / "capped.wav"
    code, _, err = run(capsys, "--model", endless, "--text", text, "--out", out, "--vocoder", "griffinlim",
                       "--max-len-ratio", "3")  # fmt: skip
    assert code == 0 and f"warning: {out}: 1 of 1 sentence(s) reached the length cap" in err
    assert sf.info(str(out)).frames == math.ceil(3 * n_ids(synth, text)) * HOP_LENGTH
    [utt] = Synthesizer.from_pretrained(short, vocoder="griffinlim").synthesize_batch([text])
    assert not utt.hit_cap and len(utt.wave) == SHORT * n_ids(synth, text) * HOP_LENGTH
    code, _, err = run(capsys, "--model", short, "--text", text, "--out", out, "--vocoder", "griffinlim",
                       "--max-len-ratio", "3")  # fmt: skip
    assert code == 0 and "warning" not in err and sf.info(str(out)).frames == len(utt.wave)


# ------------------------------------------------------------------------------------------------ sentence chunks
def test_split_sentences_rules():
    wb = PhonemeVocab.WB
    toks = ["a", "b", ".", wb, "c", "?", wb, "d", "e", "!", wb, "f"]
    assert split_sentences(toks, 50) == [["a", "b", "."], ["c", "?"], ["d", "e", "!"], ["f"]]
    # too long: cut after the last clause mark that fits, else before the last word that fits
    clause = ["a", "b", ",", wb, "c", "d", wb, "e", "f", wb, "g"]
    assert split_sentences(clause, 6) == [["a", "b", ","], ["c", "d", wb, "e", "f"], ["g"]]
    assert split_sentences(["a", "b", wb, "c", "d", wb, "e"], 5) == [["a", "b", wb, "c", "d"], ["e"]]
    # one enormous word is cut hard; chunks of punctuation or boundaries only are dropped
    assert split_sentences(list("abcdefg"), 3) == [list("abc"), list("def"), ["g"]]
    assert split_sentences(["a", ".", wb, "."], 5) == [["a", "."]]


def test_long_paragraph_is_synthesised_sentence_by_sentence(short, vocos_dir):
    words = "the quick brown fox jumps over the lazy dog while seven wizards quietly hex jolly bugs".split()
    sentences = [" ".join(words[i % 7 : i % 7 + 3 + i % 9]).capitalize() + ".!?"[i % 3] for i in range(600)]
    paragraph = " ".join(sentences)
    assert len(paragraph) >= 10_000
    run_on = " ".join(words * 30)  # one sentence with no punctuation, far over max_tokens
    synth = Synthesizer.from_pretrained(short, vocoder=str(vocos_dir), max_tokens=200)
    utt, long_one = synth.synthesize_batch([paragraph, run_on], batch_size=64)
    assert utt.sentences == len(sentences) and not utt.hit_cap
    n = utt.sentences
    assert len(utt.wave) == SHORT * sum(chunk_ids(synth, paragraph)) * HOP_LENGTH + (n - 1) * PAUSE
    chunks = split_sentences(synth.frontend.phonemize(run_on), 200)
    assert long_one.sentences == len(chunks) > 1 and all(len(c) <= 200 for c in chunks)
    assert sum(len(c) for c in chunks) + len(chunks) - 1 == len(synth.frontend.phonemize(run_on))


def test_python_api_refuses_text_with_nothing_to_say(short):
    synth = Synthesizer.from_pretrained(short, vocoder="griffinlim")
    with pytest.raises(TextError, match="only punctuation"):
        synth.synthesize("?!...")


# -------------------------------------------------------------------------------------------------------- vocoders
def test_griffin_lim_round_trip_of_a_sine():
    t = torch.arange(SAMPLE_RATE) / SAMPLE_RATE
    wav = 0.5 * torch.sin(2 * math.pi * 440.0 * t)[None]
    mel_fn = MelSpectrogram()
    mel = mel_fn(wav)  # (1, 100, 94)
    frames = mel.shape[-1]
    audio = GriffinLimVocoder()(mel, torch.tensor([frames]))
    assert audio.shape == (1, frames * HOP_LENGTH)
    spectrum = torch.fft.rfft(audio[0]).abs()
    assert abs(int(spectrum.argmax()) * SAMPLE_RATE / audio.shape[-1] - 440.0) < 10.0
    again = mel_fn(audio[:, : wav.shape[-1]])
    assert (again - mel)[..., 2:-2].abs().mean() < 0.35  # log-mel distance, edges aside
    rms = float(audio[:, HOP_LENGTH * 8 : -HOP_LENGTH * 8].pow(2).mean().sqrt())
    assert rms == pytest.approx(0.5 / math.sqrt(2), rel=0.15)


def test_vocoders_fill_each_item_alone():
    mel = torch.randn(3, 100, 9) - 4.0
    lengths = torch.tensor([9, 2, 5])
    gl = GriffinLimVocoder()
    audio = gl(mel, lengths)
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(audio[i, : n * HOP_LENGTH], gl(mel[i : i + 1, :, :n], lengths[i : i + 1])[0])
        assert torch.all(audio[i, n * HOP_LENGTH :] == 0)


def test_local_vocos_directory(short, vocos_dir, tmp_path, capsys):
    out = tmp_path / "vocos.wav"
    code, _, err = run(capsys, "--model", short, "--text", "Hello there.", "--out", out, "--vocoder", vocos_dir)
    assert code == 0, err
    assert f"vocos ({vocos_dir})" in err
    assert sf.info(str(out)).frames == short_frames(short, "Hello there.") * HOP_LENGTH
    # the same weights as pytorch_model.bin (read with weights_only) give the same audio
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / VOCOS_CONFIG).write_text((vocos_dir / VOCOS_CONFIG).read_text())
    torch.save(load_vocos_dir(vocos_dir).state_dict(), bin_dir / "pytorch_model.bin")
    mel, lengths = torch.randn(2, 100, 6) - 4.0, torch.tensor([6, 3])
    torch.testing.assert_close(load_vocoder(str(bin_dir))(mel, lengths), load_vocoder(str(vocos_dir))(mel, lengths))


def test_bad_vocos_directories_are_refused(vocos_dir, tmp_path):
    weights = (vocos_dir / "model.safetensors").read_bytes()
    cases = {
        "not_vocos_classes": "feature_extractor: {class_path: os.system}\nbackbone: {class_path: os.system}\n"
        "head: {class_path: os.system}\n",
        "vocos_helper": (vocos_dir / VOCOS_CONFIG).read_text().replace(
            "vocos.heads.ISTFTHead", "vocos.pretrained.instantiate_class"
        ),  # a vocos function that would import and call anything its arguments name
        "80_mels": (vocos_dir / VOCOS_CONFIG).read_text().replace("n_mels: 100", "n_mels: 80"),
        "other_dims": (vocos_dir / VOCOS_CONFIG).read_text().replace("intermediate_dim: 64", "intermediate_dim: 96"),
    }
    messages = {"not_vocos_classes": "is not a vocos class", "vocos_helper": "is not a vocos class",
                "80_mels": "not a 24 kHz, 100-mel Vocos", "other_dims": "does not fit"}  # fmt: skip
    for name, config in cases.items():
        d = tmp_path / name
        d.mkdir()
        (d / VOCOS_CONFIG).write_text(config)
        (d / "model.safetensors").write_bytes(weights)
        with pytest.raises(VocoderError, match=messages[name]):
            load_vocoder(str(d))
    (tmp_path / "no_weights").mkdir()
    with pytest.raises(VocoderError, match="is not a Vocos directory"):
        load_vocoder(str(tmp_path / "no_weights"))


def test_auto_falls_back_to_griffin_lim_with_one_message(short, tmp_path, capsys, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.delenv(VOCOS_DIR_ENV, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    out = tmp_path / "auto.wav"
    code, _, err = run(capsys, "--model", short, "--text", "Hello.", "--out", out)
    assert code == 0 and out.exists()
    notes = [line for line in err.splitlines() if "no Vocos weights found" in line]
    assert len(notes) == 1 and "using Griffin-Lim" in notes[0] and VOCOS_DIR_ENV in notes[0]
    assert "and griffinlim on" in err


def test_auto_prefers_env_dir_then_hub_cache(vocos_dir, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv(VOCOS_DIR_ENV, str(vocos_dir))
    assert load_vocoder("auto").name == f"vocos (${VOCOS_DIR_ENV}={vocos_dir})"
    monkeypatch.setenv(VOCOS_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(VocoderError, match="Vocos directory not found"):
        load_vocoder("auto")
    # a hub snapshot in the Hugging Face cache layout, found without network
    monkeypatch.delenv(VOCOS_DIR_ENV)
    repo = tmp_path / "hub" / ("models--" + VOCOS_HUB_ID.replace("/", "--"))
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    (snapshot / VOCOS_CONFIG).write_text((vocos_dir / VOCOS_CONFIG).read_text())
    torch.save(load_vocos_dir(vocos_dir).state_dict(), snapshot / "pytorch_model.bin")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert load_vocoder("auto").name == f"vocos ({VOCOS_HUB_ID}, cached)"
    assert load_vocoder(VOCOS_HUB_ID).name == f"vocos ({VOCOS_HUB_ID})"  # an explicit hub id, from the cache
