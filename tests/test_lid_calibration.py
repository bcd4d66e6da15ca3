"""The filter's targets on real text: UDHR paragraphs in 94 languages (../shared/data/udhr-lid-dev.jsonl)
and short real texts (the held-out parts of data/lid-dev/ud-lid-dev.jsonl, 72 target languages,
data/lid-dev/tatoeba-lid-dev.jsonl, 69, and data/lid-dev/captions-lid-dev.jsonl, 24: image captions and
visual questions)."""

from __future__ import annotations

import pytest

from polymix.schema import ENGLISH
from polymix.translate.lid.scoring import score_batch
from polymix.translate.lid.calibrate import (
    CAPTIONS_DEV,
    SHORT_DEV,
    TARGETS,
    TATOEBA_DEV,
    calibrate,
    caption_cut,
    measure,
    read_dev,
)
from polymix.translate.lid.measure import misses, overall, wilson
from polymix.translate.lid.scoring import coverage
from polymix.translate.lid.settings import SETTINGS_FILE, LidSettings, default_settings


@pytest.fixture(scope="module")
def dev(shared_data):
    rows = read_dev(shared_data / "udhr-lid-dev.jsonl")
    langs = [r["lang"] for r in rows]
    paras = [r["text"] for r in rows]
    caps = [caption_cut(r["text"], r["lang"]) for r in rows]
    return langs, {"paragraph": (paras, score_batch(paras)), "caption": (caps, score_batch(caps))}


def test_caption_cut():
    assert (
        caption_cut("one two three four five six seven eight nine ten", "deu_Latn") == "one two three four five six seven eight"
    )
    text = "人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心，并应以兄弟关系的精神相对待。"
    assert caption_cut(text, "zho_Hans") == text[:24] and len(text[:24]) == 24


@pytest.mark.parametrize("length, keep_target", [("paragraph", TARGETS["keep_para"]), ("caption", TARGETS["keep_cap"])])
def test_targets_on_the_dev_file(dev, length, keep_target):
    langs, texts = dev
    strings, scores = texts[length]
    rates = measure(strings, langs, scores, default_settings(), pairs_per_target=300, seed=1)
    assert len(rates) == 94
    low_keep = {x: r["keep"] for x, r in rates.items() if r["keep"] < keep_target}
    low_english = {x: r["english"] for x, r in rates.items() if x != ENGLISH and r["english"] < TARGETS["english"]}
    low_other = {x: r["other"] for x, r in rates.items() if x != ENGLISH and r["other"] < TARGETS["other"]}
    assert not low_keep and not low_english and not low_other, (low_keep, low_english, low_other)


def test_a_naive_langid_check_misses_the_targets(dev):
    """Why the ensemble: langid's top label alone keeps few Zulu or Malay paragraphs."""
    langs, texts = dev
    naive = LidSettings.load(detectors=["langid"], groups=[], vote_min_prob={})
    rates = measure(texts["paragraph"][0], langs, texts["paragraph"][1], naive, pairs_per_target=50)
    assert rates["zul_Latn"]["keep"] < 0.5 and rates["zsm_Latn"]["keep"] < 0.7


def test_held_out_short_texts():
    """Thresholds are chosen on the calib part; on the held-out part (UD sentences cut to 3-12 words,
    harder than captions: names, fragments) the filter still keeps and rejects what it should."""
    rows = [r for r in read_dev(SHORT_DEV) if r["split"] == "heldout"]
    texts, langs = [r["text"] for r in rows], [r["lang"] for r in rows]
    rates = measure(texts, langs, score_batch(texts), default_settings(), pairs_per_target=400, seed=1)
    assert len(rates) >= 70 and {"rus_Cyrl", "bul_Cyrl", "jpn_Jpan", "zho_Hans", "kor_Hang"} <= set(rates)
    total = overall(rates)
    assert total["keep"] >= 0.99 and total["english"] >= 0.995 and total["other"] >= 0.99, total
    low_same = {x: r["same_script"] for x, r in rates.items() if r.get("same_script", 1) < 0.90}
    # languages only one or two detectors can output (Cebuano, Sindhi, Yiddish) scatter more on short
    # text: Cebuano keeps 71 of its 74 held-out texts (95% interval 0.89-0.99), the others >= 0.95
    s = default_settings()
    few = {x for x in rates if len([d for d in s.detectors if s.same(x) & coverage(d)]) < 3}
    low_keep = {x: r["keep"] for x, r in rates.items() if r["keep"] < (0.93 if x in few else 0.95)}
    assert not low_same and not low_keep and few == {"ceb_Latn", "snd_Arab", "ydd_Hebr"}, (low_same, low_keep, few)
    # about 140 held-out texts a language: the misses are counted and few languages are short of 0.99
    missed, n = map(sum, zip(*(misses(r) for r in rates.values())))
    assert n > 9000 and missed <= 0.008 * n and sum(r["keep"] < 0.99 for r in rates.values()) <= 20, (missed, n)
    # confusable neighbours count in part: most Macedonian claimed as Bulgarian and Czech as Slovak still go
    assert total["near"] >= 0.3 and rates["bul_Cyrl"]["near"] >= 0.7 and rates["slk_Latn"]["near"] >= 0.7, total
    for x in ("rus_Cyrl", "bul_Cyrl", "jpn_Jpan", "zho_Hans"):  # the pairs of the issue
        assert rates[x]["keep"] >= 0.95 and rates[x]["same_script"] >= 0.97, (x, rates[x])
    # the lingua referee (referee_veto 0.2) tells close neighbours apart where the detectors could not
    # (held-out, without it: Turkish as Azerbaijani 0.08, Danish/Swedish as Norwegian 0.66, Macedonian as Serbian 0.59)
    assert rates["azj_Latn"]["near"] >= 0.85 and rates["nob_Latn"]["near"] >= 0.75 and rates["srp_Cyrl"]["near"] >= 0.75, total
    # Russian's threshold is 0.3 since Tatoeba's short questions joined the calibration (0.7 lost 2% of them):
    # 0.979 of other Cyrillic text claimed as Russian is still rejected here (0.984 at 0.7)
    assert rates["srp_Cyrl"]["same_script"] >= 0.98 and rates["rus_Cyrl"]["same_script"] >= 0.97


def test_held_out_tatoeba_sentences():
    """The same on Tatoeba's everyday sentences and questions (3-15 words, names such as "Tom" in many):
    a second kind of short real text, calibrated on its own calib part beside UD's."""
    rows = [r for r in read_dev(TATOEBA_DEV) if r["split"] == "heldout"]
    texts, langs = [r["text"] for r in rows], [r["lang"] for r in rows]
    rates = measure(texts, langs, score_batch(texts), default_settings(), pairs_per_target=400, seed=1)
    assert len(rates) >= 68 and {"swh_Latn", "cat_Latn", "zsm_Latn", "khk_Cyrl"} <= set(rates)  # not in UD
    total = overall(rates)
    assert total["keep"] >= 0.99 and total["english"] >= 0.995 and total["other"] >= 0.99, total
    missed, n = map(sum, zip(*(misses(r) for r in rates.values())))
    assert n > 10000 and missed <= 0.008 * n and sum(r["keep"] < 0.99 for r in rates.values()) <= 20, (missed, n)
    low_keep = {x: r["keep"] for x, r in rates.items() if r["keep"] < 0.95}  # lowest: Galician 0.955, Afrikaans 0.957
    low_same = {x: r["same_script"] for x, r in rates.items() if r.get("same_script", 1) < 0.95}  # lowest: Hebrew 0.963
    assert not low_keep and not low_same, (low_keep, low_same)
    for x in ("rus_Cyrl", "bul_Cyrl", "jpn_Jpan", "zho_Hans"):
        assert rates[x]["keep"] >= 0.98 and rates[x]["same_script"] >= 0.97, (x, rates[x])


def test_held_out_captions_and_visual_questions():
    """The genre polymix filters: human-written image captions and questions about images (COCO-CN, UIT-ViIC,
    MTVQA, BanglaVerse, ...; not the IGLUE/Multi30k/XM3600 benchmarks). Every language keeps 0.99 of its
    held-out texts; the one miss is a Dutch caption (calib: an English question in MTVQA's Italian file)."""
    rows = [r for r in read_dev(CAPTIONS_DEV) if r["split"] == "heldout"]
    texts, langs = [r["text"] for r in rows], [r["lang"] for r in rows]
    rates = measure(texts, langs, score_batch(texts), default_settings(), pairs_per_target=400, seed=1)
    assert {"zho_Hans", "jpn_Jpan", "kor_Hang", "rus_Cyrl", "arb_Arab", "vie_Latn", "tur_Latn", ENGLISH} <= set(rates)
    assert {"spa_Latn", "ces_Latn", "ind_Latn", "yor_Latn", "sun_Latn"} <= set(rates)  # WorldCuisines' questions
    total = overall(rates)
    assert total["english"] >= 0.995 and total["other"] >= 0.99 and total["same_script"] >= 0.98, total
    low_keep = {x: r["keep"] for x, r in rates.items() if r["keep"] < 0.99}  # lowest: Dutch 0.994
    low_same = {x: r["same_script"] for x, r in rates.items() if r.get("same_script", 1) < 0.9}  # lowest: Indonesian 0.99
    assert not low_keep and not low_same, (low_keep, low_same)
    for x in ("jpn_Jpan", "zho_Hans"):  # Japanese questions claimed as Chinese and Chinese captions as Japanese
        assert rates[x]["same_script"] >= 0.9, (x, rates[x])


@pytest.mark.slow
def test_calibration_is_reproducible(shared_data, tmp_path):
    """The shipped settings are what `polymix lid-calibrate --write --pairs-per-target 1500` computes."""
    out = tmp_path / "lid_settings.yaml"
    report = calibrate(shared_data / "udhr-lid-dev.jsonl", processes=2, pairs_per_target=1500, write=out)
    shipped, again = LidSettings.load(SETTINGS_FILE), LidSettings.load(out)
    assert again.to_dict() == shipped.to_dict()
    assert report["seconds"] < 300
    assert report["heldout"] and report["calib"]  # both parts of the short-text files are measured
    assert set(again.calibration["short_dev_files"]) == {"ud-lid-dev.jsonl", "tatoeba-lid-dev.jsonl", "captions-lid-dev.jsonl"}
    from polymix.translate.lid.report import render

    text = render(report, per_language=True)  # calib and heldout side by side, with the confusable neighbours' reject
    assert "confusable rejected" in text and "weakest confusable reject:" in text
    assert "| calib" in text and "| heldout" in text and "slk_Latn" in text
    for name in again.calibration["short_dev_files"]:  # each short file's parts on their own
        assert set(report["by_file"][name]) == {"calib", "heldout"} and f"{name} heldout: keep " in text
    assert min(r["keep"] for r in report["by_file"]["captions-lid-dev.jsonl"]["heldout"].values()) >= 0.99
    # --misses: the rejected texts behind each keep rate, with each detector's top 3, as many as the rates say
    for part in ("calib", "heldout"):
        rows = report["misses"][part]
        assert len(rows) == sum(misses(r)[0] for r in report[part].values()) > 0
        assert all(report[part][lang]["keep"] < 1 for lang, *_ in rows)
    listed = render(report, misses=True)
    assert f"rejected texts of their own language, heldout ({len(report['misses']['heldout'])})" in listed
    assert "| langid: " in listed and " | fasttext: " in listed
    for length, keep_target in (("paragraph", TARGETS["keep_para"]), ("caption", TARGETS["keep_cap"])):
        rates = report[length]
        assert min(r["keep"] for r in rates.values()) >= keep_target
        assert min(r["english"] for x, r in rates.items() if x != ENGLISH) >= TARGETS["english"]
        assert min(r["other"] for x, r in rates.items() if x != ENGLISH) >= TARGETS["other"]


def test_thresholds_keep_their_own_text_and_one_detector_alone_is_not_enough():
    """choose_thresholds: per language, one grid step below the highest threshold that keeps the
    calib texts; never below LONE_VOTE where three or more detectors know the language."""
    from polymix.translate.lid.decide import language_reason
    from polymix.translate.lid.measure import CREDITS, LONE_VOTE, THRESHOLDS, choose_thresholds

    rows = [r for r in read_dev(SHORT_DEV) if r["split"] == "calib" and r["lang"] in ("deu_Latn", "ceb_Latn", "kor_Hang")]
    texts, langs = [r["text"] for r in rows], [r["lang"] for r in rows]
    scores = score_batch(texts)
    s = default_settings()
    chosen, credits = choose_thresholds([(texts, langs, scores, 0.99)], s)
    assert set(credits) == {"ceb_Latn"} and credits["ceb_Latn"] in CREDITS  # Cebuano has Tagalog beside it
    assert set(chosen) == {"deu_Latn", "ceb_Latn", "kor_Hang"} and set(chosen.values()) <= set(THRESHOLDS)
    assert chosen["deu_Latn"] >= LONE_VOTE and chosen["kor_Hang"] >= chosen["deu_Latn"]  # Korean is easy to tell
    assert chosen["ceb_Latn"] < LONE_VOTE  # only CLD2 and fastText know Cebuano: a lower floor
    tuned = LidSettings.load(min_evidence=chosen)
    for lang in chosen:
        own = [sc for sc, x in zip(scores, langs) if x == lang and sc.length >= s.min_letters]
        kept = sum(language_reason(sc, lang, tuned)[0] is None for sc in own) / len(own)
        assert kept >= (0.99 if lang != "ceb_Latn" else 0.8), (lang, kept)


def _builder(name: str = "build"):
    """One of data/lid-dev's builder scripts (build.py, build_tatoeba.py, build_captions.py) as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"lid_dev_{name}", SHORT_DEV.with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_keep_rates_say_how_many_texts_they_rest_on():
    """A keep rate over ~140 texts: its misses and a 95% interval (what the report prints)."""
    assert misses({"keep": 1 - 2 / 137, "n": 137}) == (2, 137)
    lo, hi = wilson(135, 137)
    assert 0.94 < lo < 0.96 and 0.995 < hi < 0.999  # 0.985 measured: 0.99 cannot be told from 0.96 on it
    lo, hi = wilson(140, 140)
    assert hi == 1.0 and 0.97 < lo < 0.98  # no miss at all still allows ~0.97
    from polymix.translate.lid.report import _short_keep

    line = _short_keep({"glg_Latn": {"keep": 1 - 7 / 143, "n": 143}, "deu_Latn": {"keep": 1.0, "n": 150}})
    assert line.startswith("keep < 0.99 in 1 of 2 languages; 7 of 293 texts missed") and "glg_Latn 7/143 [0.90-0.98]" in line


@pytest.mark.parametrize(
    "text, lang, evidence",
    [
        ("Emil Hácha", "slk_Latn", False),  # a name
        ("Youssef Boudlal, Reuters/Scanpix", "nob_Latn", False),  # a byline
        ("BEIRUT, 5. Juli (AP).", "deu_Latn", False),  # a dateline
        ("L. L. Zamenhof.", "epo_Latn", False),  # initials
        ("Elas!", "hat_Latn", False),  # one word
        ("Kjell Inge Røkkes Aker Biomarine er nå", "nob_Latn", False),  # mostly names
        ("Dagens leder", "nob_Latn", True),  # two words, 11 letters
        ("Die Firma Siemens baut Züge", "deu_Latn", True),  # German capitalises nouns
        ("పిల్లలు ఏడుస్తున్నారు .", "tel_Telu", True),  # vowel signs are letters
        ("那些白房子在哪边？", "zho_Hans", True),  # no spaces: not filtered
    ],
)
def test_dev_set_cleaning_rule(text, lang, evidence):
    assert _builder().is_language_evidence(text, lang) is evidence


def test_the_dev_set_is_clean():
    """The rule of data/lid-dev/README.md holds for every row of both parts."""
    build = _builder()
    for path in (SHORT_DEV, TATOEBA_DEV):
        rows = read_dev(path)
        assert build.clean(rows) == rows and {r["split"] for r in rows} == {"calib", "heldout"}, path
    assert len({(r["lang"], r["text"]) for r in rows}) == len(rows)  # Tatoeba: no sentence twice in a language


def test_tatoeba_dev_file_is_built_from_a_laser_checkout(tmp_path):
    """build_tatoeba.py on a small checkout laid out like LASER's data/tatoeba/v1: lengths, scripts, splits."""
    build = _builder("build_tatoeba")
    folder = tmp_path / "data" / "tatoeba" / "v1"
    folder.mkdir(parents=True)
    lines = {
        "srp": ["Marija i ja radimo zajedno.", "Да ли си се чуо са њим?", "Ona radi."],  # Latin, Cyrillic, 2 words
        "uzb": ["Bu maqolani qisqartirish shart emas.", "Менинг бир ўғлим ва бир қизим бор."],
        "rus": ["Вы сегодня проверяли почту?", "Вы сегодня проверяли почту?", "Я загорел на пляже."],
        "cmn": ["我该去睡觉了。", "好。"],  # the second is under 4 characters
    }
    for code in build.CODES:
        (folder / f"tatoeba.{code}-eng.{code}").write_text("\n".join(lines.get(code, [])) + "\n", encoding="utf-8")
    for code in build.ENGLISH_FROM:
        (folder / f"tatoeba.{code}-eng.eng").write_text(f"The {code} sentence is here.\n", encoding="utf-8")
    out = tmp_path / "tatoeba.jsonl"
    assert build.build(tmp_path, out) == 9
    rows = read_dev(out)
    by_lang = {lang: sorted(r["text"] for r in rows if r["lang"] == lang) for lang in {r["lang"] for r in rows}}
    assert by_lang["srp_Cyrl"] == ["Да ли си се чуо са њим?", "Марија и ја радимо заједно."]  # transliterated
    assert by_lang["uzn_Latn"] == ["Bu maqolani qisqartirish shart emas."]  # Latin lines only
    assert by_lang["rus_Cyrl"] == ["Вы сегодня проверяли почту?", "Я загорел на пляже."]  # no sentence twice
    assert by_lang["zho_Hans"] == ["我该去睡觉了。"] and len(by_lang["eng_Latn"]) == 3
    assert {r["split"] for r in rows} <= {"calib", "heldout"} and all(r["source"].startswith("tatoeba.") for r in rows)
    build.build(tmp_path, tmp_path / "again.jsonl")
    assert (tmp_path / "again.jsonl").read_bytes() == out.read_bytes()  # deterministic


def test_captions_dev_file_is_built_from_its_repositories(tmp_path):
    """build_captions.py on small checkouts laid out like its source repositories: each reader, the
    Turkish code page, English lines in a Thai file dropped, no text twice, deterministic."""
    import json

    import csv
    import io

    build = _builder("build_captions")

    def put(repo: str, path: str, data: str | bytes) -> None:
        target = tmp_path / repo.replace("/", "+") / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))

    put("li-xirong/coco-cn", "data/coco-cn_ext.icap2020.txt", "COCO_1#0\t一个男人在骑自行车。\nCOCO_2#0\t一个男人在骑自行车。\n")
    for split in ("train", "val", "test"):
        caption = {"train": "Một cậu bé đang chơi bóng.", "val": "Hai con chó", "test": "Chó"}[split]  # "Chó": one word
        annotations = {"annotations": [{"id": 1, "caption": caption}]}
        put("yingyong26072001/uit_dataset", f"uitviic_captions_{split}2017.json", json.dumps(annotations))
    questions = [("en", "how many people are there?"), ("vi", "có bao nhiêu người?"), ("ja", "何人いますか？")]
    put(
        "phanxuanphucnd/EVJVQA",
        "data/test/evjvqa_public_test-lang-qtype-answer.json",
        json.dumps({"annotations": [{"id": i, "language": lang, "question": q} for i, (lang, q) in enumerate(questions)]}),
    )
    heron = json.dumps({"question_id": 0, "text": "鳥の羽の色は何色ですか？"}, ensure_ascii=False)
    put("turingmotors/heron", "playground/data/japanese-heron-bench/questions_ja.jsonl", heron + "\n")
    for domain in build.BANGLAVERSE_DOMAINS:
        captions = [{"caption": "গরম গরম ভুনা খিচুড়ি।"}] if domain == "food" else []
        put("faiyazabdullah/BanglaVerse", f"data/{domain}/annotations/{domain}_captions.json", json.dumps(captions))
        put("faiyazabdullah/BanglaVerse", f"data/{domain}/annotations/{domain}_qa_pairs.json", "[]")
    mtvqa = [("TH", "What is the main ingredient?"), ("TH", "มีทั้งหมดกี่เล่ม"), ("RU", "Где родился Леонардо?")]
    mtvqa.append(("JA", "テストのメリットは？"))
    put(
        "ZHCSJ666/MTVQA-Test",
        "data/mtvqa_all_data_test_filtered_cleaned_tomodels.jsonl",
        json.dumps([{"quesion_number": f"{lang}_{i}", "lang": lang, "question": q} for i, (lang, q) in enumerate(mtvqa)]),
    )
    columns = list(build.WORLDCUISINES) + ["Cantonese"]
    templates = [  # one to keep (in every column), one with a place to fill in
        {"prompt_id": "0", **{c: "¿Cuál es el nombre de este plato?" for c in columns}},
        {"prompt_id": "1", **{c: "¿Cómo se llama este plato en <LOCATION>?" for c in columns}},
    ]
    table = io.StringIO()
    writer = csv.DictWriter(table, ["prompt_id", *columns])
    writer.writeheader()
    writer.writerows(templates)
    put("worldcuisines/worldcuisines", "generate_vqa/resources/query_ctx.csv", table.getvalue())
    put("giddyyupp/turkish-image-captioning", "MSCOCO/val/val_baseline_1.txt", "koltukta oturan kedi.\n")
    put("giddyyupp/turkish-image-captioning", "MSCOCO/val/val_baseline_2.txt", "masa üstünde iki bilgisayar.\n".encode("cp1254"))
    for part in ("Test/test", "Val/val"):
        for n in range(5):
            put("cltl/DutchDescriptions", f"Data/Dutch/{part}.{n}", "de hond rent over het gras\n" if n == 0 else "")
    out = tmp_path / "captions.jsonl"
    latin = {
        x for x in build.WORLDCUISINES.values() if x.endswith("_Latn")
    }  # the Spanish template passes the script rule only there
    assert build.build(tmp_path, out) == 14 + len(latin) == 25
    rows = read_dev(out)
    by_lang = {lang: sorted(r["text"] for r in rows if r["lang"] == lang) for lang in {r["lang"] for r in rows}}
    assert by_lang["zho_Hans"] == ["一个男人在骑自行车。"]  # once
    assert by_lang["vie_Latn"] == ["Hai con chó", "Một cậu bé đang chơi bóng.", "có bao nhiêu người?"]  # not one word
    assert by_lang["tha_Thai"] == ["มีทั้งหมดกี่เล่ม"]  # the English question is not Thai text
    assert by_lang["tur_Latn"] == ["koltukta oturan kedi.", "masa üstünde iki bilgisayar."]  # cp1254 read
    assert len(by_lang["jpn_Jpan"]) == 3 and sorted(by_lang["eng_Latn"]) == [
        "how many people are there?",
        "¿Cuál es el nombre de este plato?",
    ]
    assert by_lang["spa_Latn"] == ["¿Cuál es el nombre de este plato?"] and "yue" not in by_lang  # once; no Cantonese column
    assert by_lang["nld_Latn"] == ["de hond rent over het gras"]  # in the test and the val file: once
    assert {"ben_Beng", "rus_Cyrl"} <= set(by_lang) and {r["split"] for r in rows} <= {"calib", "heldout"}
    build.build(tmp_path, tmp_path / "again.jsonl")
    assert (tmp_path / "again.jsonl").read_bytes() == out.read_bytes()  # deterministic


def test_captions_dev_file_rules_hold():
    """Every row of the shipped captions file: a caption or question of 2-40 words (3-80 characters without
    spaces), in its language's script, each text once per language, both parts present."""
    build = _builder("build_captions")
    rows = read_dev(CAPTIONS_DEV)
    assert len(rows) > 5000 and {r["split"] for r in rows} == {"calib", "heldout"}
    assert all(build.fits(r["text"], r["lang"]) for r in rows)
    assert len({(r["lang"], r["text"]) for r in rows}) == len(rows)
    assert all(sum(r["lang"] == x for r in rows) <= build.PER_LANGUAGE for x in {r["lang"] for r in rows})
