"""letters.py: the alphabets agree with real text of their own languages, and name what they should."""

from __future__ import annotations

import pytest

from polymix.translate.lid.calibrate import CAPTIONS_DEV, SHORT_DEV, TATOEBA_DEV, read_dev
from polymix.translate.lid.letters import ALPHABETS, foreign


def test_no_own_text_has_two_foreign_letters(shared_data):
    """Every UDHR paragraph and every short real text of a language with a table has fewer than
    ``foreign_letters`` (2) letters its table says it never writes: the tables are not too narrow."""
    rows = [r for f in (shared_data / "udhr-lid-dev.jsonl", SHORT_DEV, TATOEBA_DEV, CAPTIONS_DEV) for r in read_dev(f)]
    own = [r for r in rows if r["lang"] in ALPHABETS]
    assert len({r["lang"] for r in own}) >= 14 and len(own) > 7000
    two = [(r["lang"], r["text"]) for r in own if foreign(r["text"], r["lang"]) >= 2]
    one = [(r["lang"], r["text"]) for r in own if foreign(r["text"], r["lang"]) == 1]
    assert not two, two[:5]
    assert len(one) <= 3, one  # Tatoeba Belarusian "списаў" with a Russian "и" (a misspelling), 2 texts


@pytest.mark.parametrize(
    "text, lang, count",
    [
        ("Они не скажут тебе правды.", "srp_Cyrl", 1),  # ы
        ("Они не скажут тебе правды.", "rus_Cyrl", 0),
        ("Они не скажут тебе правды.", "ukr_Cyrl", 1),  # ы
        ("Џиновски јазик", "bul_Cyrl", 2),  # џ ј
        ("Џиновски јазик", "mkd_Cyrl", 0),
        ("Привіт, як справи?", "rus_Cyrl", 1),  # і
        ("ڏاڍو سٺو", "arb_Arab", 3),  # Sindhi ڏ ڍ ٺ
        ("ڏاڍو سٺو", "snd_Arab", 0),
        ("شکراً لك علی کل شيء.", "arb_Arab", 0),  # keheh and Farsi yeh: Arabic typed on a Persian keyboard
        ("Ein Mann fährt Rad", "deu_Latn", 0),  # no table for Latin: nothing is foreign
        ("Ein Mann", "xyz", 0),
    ],
)
def test_foreign_letters(text, lang, count):
    assert foreign(text, lang) == count
