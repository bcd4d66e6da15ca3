"""The random NLLB-200 look-alike (translate/random_nllb.py): tokenizer conventions, determinism,
and CTranslate2 == transformers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polymix.translate.random_nllb import NLLB_LANGUAGE_CODES, build_random_nllb, convert_to_ct2

SENTENCES = [
    "The man sits on a red chair.",
    "Two dogs are playing in the water near the house.",
    "Die Katze sitzt auf dem Tisch.",
    "Un enfant regarde le train.",
    "What is the small bird holding?",
]
MAX_NEW = 16


def test_files(random_nllb):
    names = {p.name for p in random_nllb.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"} <= names
    config = json.loads((random_nllb / "config.json").read_text())
    assert config["model_type"] == "m2m_100" and config["scale_embedding"] and config["activation_function"] == "relu"
    assert (config["bos_token_id"], config["pad_token_id"], config["eos_token_id"]) == (0, 1, 2)
    assert config["decoder_start_token_id"] == 2 and config["max_position_embeddings"] == 1024
    assert json.loads((random_nllb / "generation_config.json").read_text())["decoder_start_token_id"] == 2


def test_tokenizer_conventions(tok, random_nllb):
    assert len(NLLB_LANGUAGE_CODES) == 202
    assert tok.convert_tokens_to_ids(["<s>", "<pad>", "</s>", "<unk>"]) == [0, 1, 2, 3]
    ids = tok.convert_tokens_to_ids(NLLB_LANGUAGE_CODES)
    assert tok.unk_token_id not in ids and len(set(ids)) == 202
    # NLLB's layout: the codes follow the sentencepiece pieces in order, <mask> comes last
    assert ids == list(range(ids[0], ids[0] + 202)) and tok.convert_tokens_to_ids("<mask>") == len(tok) - 1
    assert json.loads((random_nllb / "config.json").read_text())["vocab_size"] == len(tok)
    for lang, text in [("eng_Latn", "the man sits on a red chair"), ("deu_Latn", "Die Katze sitzt"), ("fra_Latn", "le chat")]:
        tok.src_lang = lang
        input_ids = tok(text).input_ids
        assert input_ids[0] == tok.convert_tokens_to_ids(lang) and input_ids[-1] == tok.eos_token_id == 2
        assert tok.unk_token_id not in input_ids
        assert tok.decode(input_ids, skip_special_tokens=True) == text
    tok.src_lang = "eng_Latn"


def test_deterministic(random_nllb, tmp_path):
    from safetensors.numpy import load_file

    again = build_random_nllb(tmp_path / "again")
    for name in ("config.json", "tokenizer.json", "sentencepiece.bpe.model", "model.safetensors"):
        assert (again / name).read_bytes() == (random_nllb / name).read_bytes(), name
    a, b = load_file(str(random_nllb / "model.safetensors")), load_file(str(again / "model.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    other = build_random_nllb(tmp_path / "other", seed=1)
    assert (other / "model.safetensors").read_bytes() != (random_nllb / "model.safetensors").read_bytes()


def test_ct2_folder(random_nllb_ct2, tok):
    from transformers import AutoTokenizer

    names = {p.name for p in random_nllb_ct2.iterdir()}
    assert {"model.bin", "config.json", "tokenizer.json", "sentencepiece.bpe.model"} <= names
    vocab = json.loads((random_nllb_ct2 / "shared_vocabulary.json").read_text())
    assert vocab == tok.convert_ids_to_tokens(list(range(len(tok))))
    again = AutoTokenizer.from_pretrained(str(random_nllb_ct2))
    assert again.convert_tokens_to_ids("deu_Latn") == tok.convert_tokens_to_ids("deu_Latn")


def _reference(hf_dir: Path, tok) -> list[list[int]]:
    """transformers greedy output ids, without the decoder start token and a final </s>."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    model = AutoModelForSeq2SeqLM.from_pretrained(str(hf_dir)).eval()
    tok.src_lang = "eng_Latn"
    out = []
    for text in SENTENCES:
        inputs = tok(text, return_tensors="pt")
        with torch.no_grad():
            ids = model.generate(
                **inputs,
                forced_bos_token_id=tok.convert_tokens_to_ids("deu_Latn"),
                num_beams=1,
                do_sample=False,
                max_new_tokens=MAX_NEW,
            )[0].tolist()
        assert ids[0] == 2 and ids[1] == tok.convert_tokens_to_ids("deu_Latn")
        out.append(ids[1:-1] if ids[-1] == tok.eos_token_id else ids[1:])
    return out


def _ct2(ct2_dir: Path, tok) -> list[list[int]]:
    import ctranslate2

    translator = ctranslate2.Translator(str(ct2_dir), device="cpu")
    tok.src_lang = "eng_Latn"
    source = [tok.convert_ids_to_tokens(tok(text).input_ids) for text in SENTENCES]
    results = translator.translate_batch(
        source, target_prefix=[["deu_Latn"]] * len(source), beam_size=1, max_decoding_length=MAX_NEW
    )
    return [tok.convert_tokens_to_ids(r.hypotheses[0]) for r in results]


def test_ct2_matches_transformers(random_nllb, random_nllb_ct2, tok):
    reference = _reference(random_nllb, tok)
    got = _ct2(random_nllb_ct2, tok)
    assert got == reference
    # a meaningful comparison: outputs depend on the input and vary along the sequence
    assert len({tuple(r) for r in reference}) == len(SENTENCES)
    assert all(len(set(r)) > 2 for r in reference)


def test_int8_loads_and_translates(random_nllb, tmp_path, tok):
    ct2_dir = convert_to_ct2(random_nllb, tmp_path / "ct2-int8")  # default quantization: int8
    assert json.loads((ct2_dir / "config.json").read_text()).get("decoder_start_token") == "</s>"
    for hyp in _ct2(ct2_dir, tok):
        assert hyp[0] == tok.convert_tokens_to_ids("deu_Latn") and 1 <= len(hyp) <= MAX_NEW
        assert tok.unk_token_id not in hyp[:1]


def test_convert_rejects_padded_vocabulary(random_nllb, tmp_path):
    """config.vocab_size above the tokenizer's length makes CTranslate2 pad with 'madeupword': refused."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    broken = shutil.copytree(random_nllb, tmp_path / "broken")
    config = json.loads((broken / "config.json").read_text())
    weights = load_file(str(broken / "model.safetensors"))
    weights["model.shared.weight"] = torch.cat([weights["model.shared.weight"], torch.zeros(2, config["d_model"])])
    save_file(weights, str(broken / "model.safetensors"), metadata={"format": "pt"})
    (broken / "config.json").write_text(json.dumps({**config, "vocab_size": config["vocab_size"] + 2}))
    with pytest.raises(RuntimeError, match="madeupword"):
        convert_to_ct2(broken, tmp_path / "broken-ct2")
