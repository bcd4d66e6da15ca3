"""Letters a language's orthography never writes: knowledge the detectors' n-grams lack on a short text.

    foreign("Они не скажут тебе правды.", "srp_Cyrl")   # 1: Serbian has no "ы"
    foreign("Они не скажут тебе правды.", "rus_Cyrl")   # 0

On four words langid and CLD2 call Russian "Serbian" and a Sindhi caption "Arabic" though the text holds
a letter those languages do not write ("ы"; Sindhi "ڏ"). Per script, a table of each language's
alphabet (Cyrillic) or of the letters that mark it (Arabic script, whose shared base letters all its
languages write); a letter of the table's union outside a language's set is foreign to it. Languages
and scripts without a table have no foreign letters. Used by :mod:`polymix.translate.lid.decide`: a
detector's label is struck where the text has a letter foreign to it, and a text with
``foreign_letters`` letters foreign to its claimed language is not in it.
"""

from __future__ import annotations

import functools

# Cyrillic: the full lower-case alphabets (Belarusian and Ukrainian with the apostrophe-free letters only).
CYRILLIC = {
    "rus_Cyrl": "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    "ukr_Cyrl": "абвгґдеєжзиіїйклмнопрстуфхцчшщьюя",
    "bel_Cyrl": "абвгґдеёжзійклмнопрстуўфхцчшыьэюя",
    "bul_Cyrl": "абвгдежзийклмнопрстуфхцчшщъьюяѝ",
    "mkd_Cyrl": "абвгдѓежзѕијклљмнњопрстќуфхцчџшѐѝ",
    "srp_Cyrl": "абвгдђежзијклљмнњопрстћуфхцчџш",
    "kaz_Cyrl": "аәбвгғдеёжзийкқлмнңоөпрстуұүфхһцчшщъыіьэюя",
    "kir_Cyrl": "абвгдеёжзийклмнңоөпрстуүфхцчшщъыьэюя",
    "khk_Cyrl": "абвгдеёжзийклмноөпрстуүфхцчшщъыьэюя",
    "tgk_Cyrl": "абвгғдеёжзиӣйкқлмнопрстуӯфхҳчҷшъэюяь",  # ь: Russian loans (UDHR)
}
# Arabic script: the letters that mark each language beyond the 28 Arabic letters and hamza forms,
# which all of them write.
_PERSO = "پچژگکی"
ARABIC = {
    "arb_Arab": "کی",  # keheh and Farsi yeh for kaf and yeh: Arabic typed on a Persian keyboard (Tatoeba)
    "pes_Arab": _PERSO,
    "urd_Arab": _PERSO + "ٹڈڑںےۓہۂۃھ",
    "pbt_Arab": _PERSO + "ټډړښږځڅڼۍېګے",
    "snd_Arab": _PERSO + "ٻڄڃڇڊڍڏڌڙڦڪڳڱٺٽٿڀڻ۽ھ",
    "ckb_Arab": _PERSO + "ڕڵۆێەڤھ",
}
ALPHABETS = {**CYRILLIC, **ARABIC}
_UNIONS = (frozenset("".join(CYRILLIC.values())), frozenset("".join(ARABIC.values())))
_FOREIGN = {
    lang: frozenset(c for union in _UNIONS if set(letters) <= union for c in union - set(letters))
    for lang, letters in ALPHABETS.items()
}


@functools.lru_cache(maxsize=1 << 16)
def foreign(text: str, lang: str) -> int:
    """How many letters of ``text`` the orthography of ``lang`` (NLLB code) never writes; 0 for a language without a table."""
    bad = _FOREIGN.get(lang)
    return sum(c in bad for c in text.lower()) if bad else 0
