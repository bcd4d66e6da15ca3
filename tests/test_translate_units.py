"""Translation pieces that need no model: pass-through, splitting, cache, assignment, rendering."""

from collections import Counter

import pytest

from polymix import languages as L
from polymix.schema import Example, encode_slots
from polymix.templates import render
from polymix.translate import assign
from polymix.translate.cache import TranslationCache, namespace
from polymix.translate.render import render_translated, strings_needed
from polymix.translate.text import joiner, passthrough, split_long


@pytest.mark.parametrize("text", ["", "   ", "42", "3.5", "1,000", "12:30", "?!", "...", "—", "(2)", "50%"])
def test_passthrough_strings(text):
    assert passthrough(text)


@pytest.mark.parametrize("text", ["two", "A dog.", "yes", "5 dogs", "東京"])
def test_real_text_is_translated(text):
    assert not passthrough(text)


def test_split_long_keeps_every_word_and_respects_the_limit():
    n_tokens = lambda s: len(s.split())  # noqa: E731
    text = "One two three four. Five six seven. " + " ".join(f"w{i}" for i in range(25)) + ". End here."
    pieces = split_long(text, n_tokens, limit=8)
    assert all(n_tokens(p) <= 8 for p in pieces)
    assert " ".join(pieces).split() == text.split()
    assert split_long("short text", n_tokens, limit=8) == ["short text"]


def test_joiner_has_no_space_for_scripts_without_spaces():
    assert joiner("zho_Hans") == "" and joiner("jpn_Jpan") == "" and joiner("tha_Thai") == ""
    assert joiner("deu_Latn") == " "


def test_cache_round_trip_namespaces_and_persistence(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = TranslationCache(path)
    ns_de = namespace("m@1:int8", "deu_Latn", {"beam_size": 1})
    ns_fr = namespace("m@1:int8", "fra_Latn", {"beam_size": 1})
    assert ns_de != ns_fr != namespace("m@1:int8", "deu_Latn", {"beam_size": 4})
    cache.put_many(ns_de, {"a dog": "ein Hund", "a cat": "eine Katze"})
    assert cache.get_many(ns_de, ["a dog", "a bird"]) == {"a dog": "ein Hund"}
    assert cache.get_many(ns_fr, ["a dog"]) == {}
    cache.close()
    again = TranslationCache(path)
    assert again.get_many(ns_de, [f"x{i}" for i in range(1200)] + ["a cat"]) == {"a cat": "eine Katze"}
    assert len(again) == 2
    assert again._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_mc4_assignment_keeps_english_share_and_every_language_gets_rows():
    ids = [f"id{i}" for i in range(300)]
    got = Counter(assign.assign(ids, L.targets()))
    assert set(got) == {L.ENGLISH, *L.targets()}  # 96 languages, none empty, on only 300 rows
    assert sum(got.values()) == 300
    big = Counter(assign.assign([f"id{i}" for i in range(50_000)], L.targets()))
    assert big[L.ENGLISH] / 50_000 == pytest.approx(0.438, abs=0.002)
    assert big["rus_Cyrl"] / 50_000 == pytest.approx(0.1131, abs=0.002)


def test_assignment_is_reproducible_per_id_and_order_free():
    ids = [f"id{i}" for i in range(200)]
    a = dict(zip(ids, assign.assign(ids, ["deu_Latn", "fra_Latn", "spa_Latn"], "uniform")))
    b = dict(zip(ids[::-1], assign.assign(ids[::-1], ["deu_Latn", "fra_Latn", "spa_Latn"], "uniform")))
    assert a == b
    assert Counter(a.values()) == {"deu_Latn": 67, "fra_Latn": 67, "spa_Latn": 66}
    other = dict(zip(ids, assign.assign(ids, ["deu_Latn", "fra_Latn", "spa_Latn"], "uniform", seed=1)))
    assert other != a


def test_counts_are_exact_with_floor_of_one():
    c = assign.counts(10, {"a": 0.97, "b": 0.01, "c": 0.01, "d": 0.01})
    assert c == {"a": 7, "b": 1, "c": 1, "d": 1}
    assert sum(assign.counts(3, {"a": 0.5, "b": 0.3, "c": 0.1, "d": 0.1}).values()) == 3


def test_replicate_gives_every_language():
    assert assign.expand(["x", "y"], ["deu_Latn", "fra_Latn"], "replicate") == [["deu_Latn", "fra_Latn"]] * 2
    with pytest.raises(ValueError, match="valid values"):
        assign.weights(["deu_Latn"], "zipf")


def _vqa(question, answer, source_id="1"):
    ex = Example(
        source="s",
        source_id=source_id,
        split="train",
        image="a.png",
        task="vqa",
        slots_en=encode_slots({"question": question, "answer": answer}),
    )
    return render(ex)


def test_template_pieces_and_slots_are_translated_separately():
    ex = _vqa("What color is the cat?", "black")
    needed = strings_needed(ex)
    assert "What color is the cat?" in needed and "black" in needed
    assert all("{" not in s for s in needed)
    fake = {s: s.upper() for s in needed}
    instruction, target = render_translated(ex, fake.__getitem__)
    assert target == "BLACK"
    # every piece upper-cased and put back in place: the whole instruction upper-cased
    assert instruction == ex.instruction.upper()
    # the template's literal text is the same string for every question: translated once per language
    other = _vqa("How many dogs?", "two", source_id="2")
    while other.template_id != ex.template_id:
        other = _vqa("How many dogs?", "two", source_id=str(int(other.source_id) + 1))
    literal = [s for s in strings_needed(ex) if s not in ("What color is the cat?", "black")]
    assert literal == [s for s in strings_needed(other) if s not in ("How many dogs?", "two")]


def test_lists_are_translated_per_element():
    ex = render(
        Example(
            source="s",
            source_id="1",
            split="train",
            image="a.png",
            task="vqa_mc",
            slots_en=encode_slots({"question": "Q?", "choices": ["red", "blue"], "correct_choice": "blue"}),
        )
    )
    needed = strings_needed(ex)
    assert "red" in needed and "blue" in needed
    table = {s: f"<{s}>" for s in needed}
    instruction, target = render_translated(ex, table.__getitem__)
    assert "<red>, <blue>" in instruction and target == "<blue>"
