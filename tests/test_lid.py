"""Language-ID scoring and the filter's decisions, one rejection reason at a time, on real-looking rows."""

from __future__ import annotations

import dataclasses

import pytest

from polymix.schema import ENGLISH, Example
from polymix.errors import ConfigError
from polymix.translate.lid import quality as Q
from polymix.translate.lid.scoring import LidPool, coverage, score_text, to_nllb
from polymix.translate.lid.filter import REASONS, filter_rows, language_reason, text_reason
from polymix.translate.lid.settings import LidSettings, default_settings

CAPTION_EN = "A man riding a horse on a sandy beach next to the ocean."
CAPTION_DE = "Ein Mann reitet auf einem Pferd an einem Sandstrand neben dem Meer."
QUESTION_EN = "Question: What color is the bus parked on the street? Answer briefly."
QUESTION_DE = "Frage: Welche Farbe hat der Bus, der auf der Straße parkt? Antworte kurz."


def caption(lang: str, instruction: str, target: str, source_id: str = "1") -> Example:
    en = Example(
        source="coco",
        source_id=source_id,
        split="train",
        image="a.jpg",
        task="caption",
        instruction_en="Describe the image in detail.",
        target_en=CAPTION_EN,
        answers_en=[CAPTION_EN],
    )
    return en.with_lang(lang, instruction=instruction, target=target, mt_model="nllb")


def vqa(lang: str, instruction: str, target: str, answer_en: str = "red", answers=("red", "red", "dark red")) -> Example:
    en = Example(
        source="vqav2",
        source_id="7",
        split="train",
        image="b.jpg",
        task="vqa",
        instruction_en=QUESTION_EN,
        target_en=answer_en,
        answers_en=list(answers),
    )
    return en.with_lang(lang, instruction=instruction, target=target, mt_model="nllb")


def reasons(rows, **kwargs):
    kept, rejected, stats = filter_rows(rows, **kwargs)
    return [r.id for r in kept], [why for _, why in rejected], stats


def test_scores_are_nllb_codes_with_langid_probability():
    s = score_text(CAPTION_DE)
    assert s.label == "deu_Latn" and 0.9 < s.score <= 1.0
    assert all(s.top(d) == "deu_Latn" for d in ("langid", "py3langid", "cld2", "fasttext"))
    assert s.cld2_score and s.cld2_score[0] > 400  # CLD2 matched the text well
    assert s.scripts == {"LATIN": s.letters}
    assert to_nllb("iw") == "heb_Hebr" and to_nllb("no") == "nob_Latn" and to_nllb("hr") == "hr"
    assert "ydd_Hebr" in coverage("cld2") and "ydd_Hebr" not in coverage("langid")
    empty = score_text("  123 !! ")
    assert empty.letters == 0 and empty.label is None


def test_good_rows_are_kept_and_labelled():
    rows = [
        caption("deu_Latn", "Beschreibe das Bild ausführlich.", CAPTION_DE),
        vqa("deu_Latn", QUESTION_DE, "rot"),
        caption(ENGLISH, "Describe the image in detail.", CAPTION_EN),
    ]
    kept, rejected, stats = filter_rows(rows)
    assert not rejected and len(kept) == 3
    assert kept[0].lid_label == "deu_Latn" and kept[0].lid_score > 0.9
    assert kept[2].lid_label is None  # English rows are the sources: not scored
    assert stats["lid_in"] == stats["lid_kept"] == 3 and stats["english_passthrough"] == 1


def test_untranslated_copy_and_english_output():
    copy = caption("deu_Latn", "Beschreibe das Bild ausführlich.", CAPTION_EN)
    paraphrase = caption(
        "fra_Latn", "Describe this picture in detail please.", "A man is riding his horse along a sandy beach by the sea."
    )
    _, why, stats = reasons([copy, paraphrase])
    assert why == ["untranslated", "untranslated"] and stats["rejected_untranslated"] == 2


def test_wrong_language():
    french = caption(
        "deu_Latn", "Décrivez l'image en détail.", "Un homme monte un cheval sur une plage de sable au bord de la mer."
    )
    russian_for_chinese = caption(
        "zho_Hans", "Опишите изображение подробно.", "Мужчина едет верхом на лошади по песчаному пляжу у моря."
    )
    _, why, _ = reasons([french, russian_for_chinese])
    assert why == ["wrong_language", "wrong_language"]


def test_empty_translation():
    _, why, _ = reasons([caption("deu_Latn", "Beschreibe das Bild ausführlich.", " . "), caption("deu_Latn", "", CAPTION_DE)])
    assert why == ["empty_translation", "empty_translation"]


def test_repetition_words_and_characters():
    loop = "Es tut mir leid, es tut mir leid, es tut mir leid, es tut mir leid."
    zh_loop = "一个男人在骑马一个男人在骑马一个男人在骑马一个男人在骑马"
    _, why, _ = reasons(
        [caption("deu_Latn", "Beschreibe das Bild ausführlich.", loop), caption("zho_Hans", "详细描述这张图片。", zh_loop)]
    )
    assert why == ["repetition", "repetition"]
    assert Q.repeat_run(Q.units(loop, "deu_Latn")) == 4
    # a repeat that is in the English source is not the model's fault
    en = "Look, look, look, look at the red kite."
    row = dataclasses.replace(
        caption("deu_Latn", "Beschreibe das Bild.", "Schau, schau, schau, schau dir den roten Drachen an."), target_en=en
    )
    assert reasons([row])[1] == []


def test_length_ratio():
    truncated = caption("deu_Latn", "Beschreibe das Bild ausführlich.", "Ein Mann reitet.")
    runaway = caption(
        "deu_Latn",
        "Beschreibe das Bild ausführlich.",
        CAPTION_DE
        + " "
        + " ".join(["Die Sonne geht langsam unter, während Möwen über den Wellen kreisen und Kinder im Sand spielen."] * 2),
    )
    _, why, _ = reasons([truncated, runaway])
    assert why == ["length_ratio", "length_ratio"]


def test_confusable_groups_and_coverage_veto():
    malay = "Seorang lelaki menunggang kuda di pantai berpasir di tepi laut pada waktu petang."
    s = default_settings()
    assert language_reason(score_text(malay), "ind_Latn", s)[0] is None  # id/ms: one group
    yiddish = "אַלע מענטשן װערן געבױרן פֿרײַ און גלײַך אין כּבֿוד און רעכט"
    assert language_reason(score_text(yiddish), "ydd_Hebr", s)[0] is None
    # langid and py3langid do not know Yiddish and call it Hebrew; CLD2 does know it: rejected
    assert language_reason(score_text(yiddish), "heb_Hebr", s)[0] == "wrong_language"


def test_short_answers_are_not_rejected_on_language_alone():
    # "Bus" (= English "bus") and "red" (untranslated): too short to identify or to call untranslated
    # alone; the row is judged on instruction + answer (mBLIP kept English answers on purpose)
    rows = [vqa("deu_Latn", QUESTION_DE, "Bus", answer_en="bus", answers=["bus"]), vqa("deu_Latn", QUESTION_DE, "red")]
    kept, why, stats = reasons(rows)
    assert why == [] and len(kept) == 2 and stats["short_identical"] == 2
    reason, checked = language_reason(score_text("rot"), "deu_Latn", default_settings())
    assert reason is None and not checked
    # a short text in the wrong script is still caught
    assert language_reason(score_text("red"), "zho_Hans", default_settings())[0] == "untranslated"


def test_round_trip_with_a_back_translator():
    english = {"rot": "red", "blau": "blue"}
    calls = []

    def back(texts, src_lang):
        calls.append((tuple(texts), src_lang))
        return [english.get(t, t) for t in texts]

    good, bad = vqa("deu_Latn", QUESTION_DE, "rot"), vqa("deu_Latn", QUESTION_DE, "blau")
    kept, rejected, stats = filter_rows([good, bad], back_translate=back)
    assert calls == [(("rot", "blau"), "deu_Latn")]
    assert [r.target for r in kept] == ["rot", "red"]  # default: English answer, as mBLIP
    assert stats["round_trip_checked"] == 2 and stats["round_trip_english"] == 1 and not rejected
    strict = LidSettings.load(round_trip_action="reject")
    kept, rejected, _ = filter_rows([good, bad], strict, back_translate=back)
    assert [r.target for r in kept] == ["rot"] and [w for _, w in rejected] == ["round_trip"]
    # captions are long: never back-translated
    calls.clear()
    filter_rows([caption("deu_Latn", "Beschreibe das Bild ausführlich.", CAPTION_DE)], back_translate=back)
    assert calls == []


def test_every_reason_is_known_and_text_reason_needs_no_source():
    assert set(REASONS) >= {"untranslated", "wrong_language", "empty_translation", "repetition", "length_ratio"}
    s = default_settings()
    assert text_reason(CAPTION_DE, "deu_Latn", score_text(CAPTION_DE), s) == (None, True)
    assert text_reason(CAPTION_EN, "deu_Latn", score_text(CAPTION_EN), s)[0] == "untranslated"
    assert text_reason(CAPTION_EN, "deu_Latn", score_text(CAPTION_EN), s, source=CAPTION_EN) == ("untranslated", False)


def test_settings_are_validated_and_groups_are_not_transitive():
    with pytest.raises(ConfigError) as err:
        LidSettings(detectors=("langid", "lingua"), round_trip_action="maybe", length_ratio_min=2.0)
    assert "lingua" in str(err.value) and "round_trip_action" in str(err.value) and "length_ratio" in str(err.value)
    with pytest.raises(ConfigError, match="foreign_letters must be >= 0"):
        LidSettings(foreign_letters=-1)
    with pytest.raises(ConfigError, match="blind_veto_detectors >= 1"):
        LidSettings(blind_veto_detectors=0)
    s = default_settings()
    assert {"zsm_Latn", "jav_Latn"} <= s.accepted("ind_Latn") and "jav_Latn" not in s.accepted("zsm_Latn")
    assert "mkd_Cyrl" in s.accepted("bul_Cyrl") and "rus_Cyrl" not in s.accepted("bul_Cyrl")
    assert "mkd_Cyrl" not in s.same("bul_Cyrl") and s.same("zho_Hant") >= {"zho_Hans", "yue"}
    assert s.calibration["overall"]["heldout"]["keep"] > 0.95 and set(s.min_evidence) >= {"rus_Cyrl", "jpn_Jpan"}
    only_langid = LidSettings.load(detectors=["langid"])
    reason, checked = language_reason(score_text("Ọmọ ènìyàn kọ̀ọ̀kan ni a bí ní òmìnira"), "yor_Latn", only_langid)
    assert reason is None and not checked  # langid does not know Yoruba: script check only, unchecked


def test_pool_gives_the_same_scores_as_one_process():
    texts = [CAPTION_DE, CAPTION_EN, "Un homme monte un cheval.", "一个男人在骑马"] * 3
    texts = [f"{t} {i}" for i, t in enumerate(texts)]
    with LidPool(2, batch_size=2) as pool:
        pooled = pool.score(texts)
    assert [s.detail() for s in pooled] == [score_text(t).detail() for t in texts]


def test_a_dead_pool_worker_is_an_error_not_a_hang():
    """A worker killed (say by the OOM killer) fails the call with a clear message, and the next call
    gets a fresh pool. multiprocessing.Pool, used before, waits forever for a batch whose worker died
    (cpython issue 66587)."""
    import multiprocessing
    import os
    import signal
    import threading

    texts = [f"{CAPTION_DE} {i}" for i in range(4 * 64)]
    outcome: dict = {}
    others = {p.pid for p in multiprocessing.active_children()}  # pools of earlier tests live on
    with LidPool(2, batch_size=64) as pool:
        workers = [p for p in multiprocessing.active_children() if p.pid not in others]
        assert len(workers) == 2
        os.kill(workers[0].pid, signal.SIGKILL)  # while it loads the models: its batches never come back

        def run():
            try:
                outcome["scores"] = pool.score(texts)
            except RuntimeError as err:
                outcome["error"] = err

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(timeout=120)
        assert not thread.is_alive(), "scoring hangs after a worker died"
        assert "language-ID worker process died" in str(outcome.get("error")) and "rerun" in str(outcome["error"])
        again = pool.score(texts)  # 256 distinct texts: scored by the fresh pool (a retry)
        assert len([p for p in multiprocessing.active_children() if p.pid not in others]) >= 2
        assert [s.detail() for s in again[:3]] == [score_text(t).detail() for t in texts[:3]]


def test_pool_workers_end_when_their_parent_is_killed(tmp_path):
    """A build killed with SIGKILL (the fault suite does it) must not leave scoring workers behind:
    they would hold its stdout open, and whoever waits for its output would wait forever."""
    import os
    import subprocess
    import sys
    import time

    script = (
        "import multiprocessing, os, signal\n"
        "from polymix.translate.lid.scoring import LidPool\n"
        "pool = LidPool(2).__enter__()\n"
        "print(*[p.pid for p in multiprocessing.active_children() if 'Resource' not in type(p).__name__], flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    out = tmp_path / "pids.txt"
    with open(out, "w") as fh:  # a file, not a pipe: waiting for the pipe to close would hang on the bug itself
        proc = subprocess.run([sys.executable, "-c", script], stdout=fh, stderr=subprocess.STDOUT, timeout=120)
    pids = [int(x) for x in out.read_text().split() if x.isdigit()]
    assert proc.returncode == -9 and len(pids) == 2, out.read_text()[-2000:]

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return open(f"/proc/{pid}/stat").read().split()[2] != "Z" if os.path.exists(f"/proc/{pid}/stat") else True

    deadline = time.time() + 60
    while any(alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.2)
    left = [p for p in pids if alive(p)]
    for pid in left:  # do not leave them behind when the test fails
        os.kill(pid, 9)
    assert not left, "pool workers outlived their killed parent"
