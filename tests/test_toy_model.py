"""The committed toy model: exact translations of held-out shapes sentences, chrF and language ID on the
held-out split, coverage of every string polymix sends, refusal of what it does not know.

The model is committed (translate/toy/model); these tests only load it, they never retrain it."""

from __future__ import annotations

import json

import pytest

from polymix.schema import Example, encode_slots
from polymix.mix.sources import shapes
from polymix.templates import registry
from polymix.translate.render import render_translated, strings_needed
from polymix.translate.text import passthrough
from polymix.translate.toy import TOY_LANGUAGES, TOY_MODEL_DIR, ToyModelError, check_toy_request, toy_model
from polymix.translate.toy import corpus as C
from polymix.translate.toy.evaluate import chrf, evaluate, identify, translator
from polymix.translate.toy.languages import LEXICONS

# Held-out captions (never trained on) and what the model must make of them, word for word.
EXACT = {
    "A yellow triangle on a gray background.": {
        "deu_Latn": "Ein gelbes Dreieck auf einem grauen Hintergrund.",
        "fra_Latn": "Un triangle jaune sur un fond gris.",
        "spa_Latn": "Un triángulo amarillo sobre un fondo gris.",
        "ita_Latn": "Un triangolo giallo su uno sfondo grigio.",
        "por_Latn": "Um triângulo amarelo sobre um fundo cinza.",
        "nld_Latn": "Een gele driehoek op een grijze achtergrond.",
        "swe_Latn": "En gul triangel på en grå bakgrund.",
    },
    "A green circle, a red square and an orange circle on a black background.": {
        "deu_Latn": "Ein grüner Kreis, ein rotes Quadrat und ein orangefarbener Kreis auf einem schwarzen Hintergrund.",
        "fra_Latn": "Un cercle vert, un carré rouge et un cercle orange sur un fond noir.",
        "spa_Latn": "Un círculo verde, un cuadrado rojo y un círculo naranja sobre un fondo negro.",
        "ita_Latn": "Un cerchio verde, un quadrato rosso e un cerchio arancione su uno sfondo nero.",
        "por_Latn": "Um círculo verde, um quadrado vermelho e um círculo laranja sobre um fundo preto.",
        "nld_Latn": "Een groene cirkel, een rood vierkant en een oranje cirkel op een zwarte achtergrond.",
        "swe_Latn": "En grön cirkel, en röd kvadrat och en orange cirkel på en svart bakgrund.",
    },
}
QUESTIONS = {  # a question, an answer and a template piece: the closed set is learnt by heart
    "deu_Latn": ("Gibt es einen Kreis?", "violett", "Kurze Antwort:"),
    "fra_Latn": ("Y a-t-il un cercle ?", "violet", "Réponse courte :"),
    "nld_Latn": ("Is er een cirkel?", "paars", "Kort antwoord:"),
}


@pytest.fixture(scope="module")
def toy():
    return translator(TOY_MODEL_DIR)


@pytest.fixture(scope="module")
def report():
    return evaluate(TOY_MODEL_DIR)


def test_committed_model_is_an_nllb_format_ct2_folder():
    names = {p.name for p in TOY_MODEL_DIR.iterdir()}
    assert {
        "model.bin",
        "config.json",
        "shared_vocabulary.json",
        "tokenizer.json",
        "sentencepiece.bpe.model",
        "README.md",
        "toy.json",
    } <= names
    size = sum(p.stat().st_size for p in TOY_MODEL_DIR.iterdir())
    assert size < 8e6, f"the toy model folder is {size / 1e6:.1f} MB"
    card = (TOY_MODEL_DIR / "README.md").read_text(encoding="utf-8")
    assert "domain-limited toy" in card and "python -m polymix.translate.toy.train --out translate/toy/model --seed 0" in card
    model = toy_model()
    assert model.name == "toy" and model.key.startswith("toy@") and model.path == TOY_MODEL_DIR


def test_held_out_sentences_translate_exactly(toy):
    for english, refs in EXACT.items():
        assert C.is_heldout(english)
        for lang, ref in refs.items():
            assert C.reference_table(lang)[english] == ref  # the lexicons agree with this table
        assert toy.translate([english] * len(refs), list(refs)) == list(refs.values())


def test_questions_answers_and_template_pieces_translate_exactly(toy):
    english = ("Is there a circle?", "purple", "Short answer:")
    for lang, refs in QUESTIONS.items():
        assert toy.translate(list(english), lang) == list(refs)


def test_held_out_chrf_and_language_id(report):
    """chrF >= 90 on the held-out captions of every language, their language recognised, the closed set exact."""
    assert set(report) == set(TOY_LANGUAGES)
    for lang, r in report.items():
        assert r["chrf"] >= 90, (lang, r["chrf"], r["errors"])
        assert r["exact"] >= 0.8 * r["heldout"], (lang, r["exact"], r["errors"])
        assert min(r["lid"]["langid"], r["lid"]["py3langid"]) >= 0.9 * r["heldout"], (lang, r["lid"])
        assert r["closed_exact"] == r["closed_set"], lang


def test_model_card_figures_are_those_of_the_committed_model(report):
    recorded = json.loads((TOY_MODEL_DIR / "toy.json").read_text(encoding="utf-8"))["evaluation"]
    for lang, r in report.items():
        assert recorded[lang]["chrf"] == r["chrf"] and recorded[lang]["exact"] == r["exact"], lang


def test_corpus_covers_every_string_the_shapes_source_sends(tmp_path):
    """Each template of each task shapes feeds, over many scenes: every string polymix would send has a reference."""
    source = shapes.ShapesSource(image_root=tmp_path, count=200)
    tables = {lang: C.reference_table(lang) for lang in TOY_LANGUAGES}
    seen = set()
    for item in source.items():
        for task in source.tasks:
            if not set(item.slots) >= {"caption"} and task in ("caption", "short_caption"):
                continue
            if "caption" in item.slots and task in ("vqa", "vqg"):
                continue
            for tpl in registry()[task]:
                ex = Example(
                    "shapes",
                    item.source_id,
                    item.split,
                    item.image,
                    task,
                    template_id=tpl.versioned_id,
                    slots_en=encode_slots(item.slots),
                )
                for text in strings_needed(ex):
                    if not passthrough(text):
                        seen.add(text)
                        for lang, table in tables.items():
                            assert text in table, (lang, text)
                        render_translated(ex, lambda s: tables["deu_Latn"].get(s, s))
    assert set(C.template_pieces()) <= seen and len(C.template_pieces()) == 23
    assert all(set(C.template_pieces()) <= set(lex.pieces) for lex in LEXICONS.values())


def test_heldout_split_is_disjoint_from_training_and_about_a_tenth():
    scenes = C.all_scenes()
    assert len(scenes) == 6 * 3 * 3 + (18**2) * 3 + (18**3) * 3
    held = {shapes.caption(s) for s in scenes if C.is_heldout(shapes.caption(s))}
    assert 0.08 < len(held) / len(scenes) < 0.12
    train = {en for _, en, _ in C.training_pairs(["deu_Latn"], settings=C.CorpusSettings(three_object_captions=500))}
    assert not held & train
    assert {en for _, en, _ in C.heldout_pairs(["deu_Latn"])} <= held


def test_agreement_in_the_references():
    de, nl, es = (C.reference_table(c) for c in ("deu_Latn", "nld_Latn", "spa_Latn"))
    english = "A red circle, a red square and an orange triangle on a black background."
    assert de[english] == "Ein roter Kreis, ein rotes Quadrat und ein orangefarbenes Dreieck auf einem schwarzen Hintergrund."
    assert nl[english] == "Een rode cirkel, een rood vierkant en een oranje driehoek op een zwarte achtergrond."
    assert es[english] == "Un círculo rojo, un cuadrado rojo y un triángulo naranja sobre un fondo negro."


def test_other_sources_and_languages_are_refused():
    check_toy_request(["shapes"], ["eng_Latn", *TOY_LANGUAGES])
    with pytest.raises(ToyModelError, match="source.*coco.*language.*zho_Hans") as err:
        check_toy_request(["shapes", "coco"], ["deu_Latn", "zho_Hans"])
    assert "--model" in str(err.value) and "deu_Latn" in str(err.value)
    with pytest.raises(ToyModelError, match="language"):
        check_toy_request(["shapes"], ["jpn_Jpan"])


def test_chrf_matches_sacrebleu():
    """Cases from sacrebleu's own tests (beta 3, effective order), and whitespace is ignored."""
    for hyps, refs, want in [
        (["a"], ["a"], 100.0),
        ([""], ["reference"], 0.0),
        (["a b c"], ["abc"], 100.0),
        (["a", "b"], ["a", "c"], 50.0),
        (["aa"], ["ab"], 25.0),
    ]:
        assert chrf(hyps, refs, beta=3) == pytest.approx(want)
    assert chrf(["Ein roter Kreis."], ["Ein roter Kreis."]) == pytest.approx(100.0)
    assert identify("Ein roter Kreis und ein blaues Quadrat auf einem weißen Hintergrund.")["langid"] == "de"


@pytest.mark.slow
def test_corpus_is_deterministic_and_is_what_the_model_was_trained_on():
    recorded = json.loads((TOY_MODEL_DIR / "toy.json").read_text(encoding="utf-8"))
    settings = C.CorpusSettings(recorded["corpus"]["three_object_captions"], recorded["corpus"]["short_repeats"])
    pairs = C.training_pairs(list(TOY_LANGUAGES), recorded["settings"]["seed"], settings)
    assert pairs == C.training_pairs(list(TOY_LANGUAGES), recorded["settings"]["seed"], settings)
    assert C.corpus_digest(pairs) == recorded["corpus"]["sha256"], (
        "the corpus generator or the lexicons changed: rebuild the toy model "
        "(python -m polymix.translate.toy.train --out translate/toy/model --seed 0)"
    )


def test_translate_stage_with_the_toy_model_writes_correct_rows_and_the_lid_filter_keeps_them(tmp_path):
    """prepare shapes -> translate with --model <toy folder>: every kept row is the reference rendering,
    and the language-ID filter keeps nearly all of them."""
    import polars as pl

    from polymix.mix.prepare import PrepareSettings, prepare
    from polymix.translate.nllb import RuntimeSettings
    from polymix.translate.stage import TranslateSettings, translate_mix

    english = tmp_path / "english"
    prepare(PrepareSettings(source="shapes", out=english, options={"count": 8}, chunk_size=40), progress=False)
    out = tmp_path / "mix"
    result = translate_mix(
        TranslateSettings(
            input=english,
            out=out,
            langs=",".join(TOY_LANGUAGES),
            distribution="replicate",
            model=str(TOY_MODEL_DIR),
            cache="none",
            runtime=RuntimeSettings(device="cpu", intra_threads=1),
        ),
        progress=False,
    )
    frame = pl.scan_parquet(f"{out}/lang=*/*.parquet", hive_partitioning=True).collect()
    rows = [Example.from_dict(r) for r in frame.filter(pl.col("lang") != "eng_Latn").to_dicts()]
    assert {r.lang for r in rows} == set(TOY_LANGUAGES)
    for row in rows:
        table = C.reference_table(row.lang)
        assert (row.instruction, row.target) == render_translated(row, lambda s: s if passthrough(s) else table[s]), row
    assert result["rejected"] <= 0.02 * (result["rows"] + result["rejected"]), result["stats"]
