"""Text normalisation exactly as mBLIP's evaluation applied it (``src/tasks/vllm/evaluation.py``).

- :func:`vqa_clean`: the VQA v2 answer normalisation (LAVIS's ``vqa_eval.py``, which mBLIP
  adapted): punctuation removed or spaced, number words to digits, English articles dropped,
  apostrophe-less contractions restored. Applied to predictions for xGQA, XVNLI and MaRVL
  (``vqa_process: True``), not for MaXM (``vqa_process: False``).
- :func:`segment`: Chinese, Japanese and Thai captions are split into words with spaCy's
  tokenizers (``Chinese()`` splits characters, ``Japanese()`` uses SudachiPy, ``Thai()``
  PyThaiNLP) and re-joined with spaces, then NFC-normalised, so CIDEr's n-grams mean the same in
  every language. mBLIP did this to both references and predictions.
"""

from __future__ import annotations

import functools
import re
import unicodedata

NUMBERS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
ARTICLES = {"a", "an", "the"}
PUNCT = [";", r"/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"]
# "(?!<=\d)" is the original's typo for a look-behind; kept, so the behaviour is the same.
PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
# The VQA evaluation's table of contractions written without their apostrophe -> with it.
_CONTRACTIONS = """aint ain't|arent aren't|cant can't|couldve could've|couldnt couldn't|couldn'tve couldn't've|
couldnt've couldn't've|didnt didn't|doesnt doesn't|dont don't|hadnt hadn't|hadnt've hadn't've|hadn'tve hadn't've|
hasnt hasn't|havent haven't|hed he'd|hed've he'd've|he'dve he'd've|hes he's|howd how'd|howll how'll|hows how's|
Id've I'd've|I'dve I'd've|Im I'm|Ive I've|isnt isn't|itd it'd|itd've it'd've|it'dve it'd've|itll it'll|let's let's|
maam ma'am|mightnt mightn't|mightnt've mightn't've|mightn'tve mightn't've|mightve might've|mustnt mustn't|
mustve must've|neednt needn't|notve not've|oclock o'clock|oughtnt oughtn't|ow's'at 'ow's'at|'ows'at 'ow's'at|
'ow'sat 'ow's'at|shant shan't|shed've she'd've|she'dve she'd've|she's she's|shouldve should've|shouldnt shouldn't|
shouldnt've shouldn't've|shouldn'tve shouldn't've|somebody'd somebodyd|somebodyd've somebody'd've|
somebody'dve somebody'd've|somebodyll somebody'll|somebodys somebody's|someoned someone'd|someoned've someone'd've|
someone'dve someone'd've|someonell someone'll|someones someone's|somethingd something'd|
somethingd've something'd've|something'dve something'd've|somethingll something'll|thats that's|thered there'd|
thered've there'd've|there'dve there'd've|therere there're|theres there's|theyd they'd|theyd've they'd've|
they'dve they'd've|theyll they'll|theyre they're|theyve they've|twas 'twas|wasnt wasn't|wed've we'd've|
we'dve we'd've|weve we've|werent weren't|whatll what'll|whatre what're|whats what's|whatve what've|whens when's|
whered where'd|wheres where's|whereve where've|whod who'd|whod've who'd've|who'dve who'd've|wholl who'll|whos who's|
whove who've|whyll why'll|whyre why're|whys why's|wont won't|wouldve would've|wouldnt wouldn't|
wouldnt've wouldn't've|wouldn'tve wouldn't've|yall y'all|yall'll y'all'll|y'allll y'all'll|yall'd've y'all'd've|
y'alld've y'all'd've|y'all'dve y'all'd've|youd you'd|youd've you'd've|you'dve you'd've|youll you'll|youre you're|
youve you've"""
CONTRACTIONS = dict(pair.split() for pair in _CONTRACTIONS.replace("\n", "").split("|"))


def _punctuation(text: str) -> str:
    out = text
    for p in PUNCT:
        if (p + " " in text or " " + p in text) or COMMA_STRIP.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    # The original passes re.UNICODE (32) as sub()'s *count*: at most 32 periods go. Kept as is.
    return PERIOD_STRIP.sub("", out, count=re.UNICODE)


def _digits_and_articles(text: str) -> str:
    words = [NUMBERS.get(w, w) for w in text.lower().split()]
    return " ".join(CONTRACTIONS.get(w, w) for w in words if w not in ARTICLES)


def vqa_clean(answer: str) -> str:
    """One prediction normalised as mBLIP's ``vqa_clean`` did it."""
    answer = answer.replace("\n", "").replace("\t", "").strip()
    return _digits_and_articles(_punctuation(answer))


NO_SPACE_LANGS = ("zh", "ja", "th")


@functools.cache
def _spacy(lang: str):
    try:
        if lang == "zh":
            from spacy.lang.zh import Chinese as Lang
        elif lang == "ja":
            from spacy.lang.ja import Japanese as Lang
        else:
            from spacy.lang.th import Thai as Lang
        return Lang()
    except ImportError as err:  # Japanese needs sudachipy + sudachidict-core, Thai pythainlp
        from polymix.training.benchmarks.base import BenchmarkError

        raise BenchmarkError(
            f"segmenting {lang} captions for CIDEr needs {err.name}: pip install 'polymix[eval]' "
            "(spacy, sudachipy, sudachidict-core, pythainlp; `make install` has them)"
        ) from None


def segment(texts: list[str], lang: str) -> list[str]:
    """Words separated by spaces for zh/ja/th (spaCy, as mBLIP), then NFC; other languages: NFC only."""
    if lang in NO_SPACE_LANGS:
        nlp = _spacy(lang)
        texts = [" ".join(token.text for token in nlp(text)) for text in texts]
    return [unicodedata.normalize("NFC", text) for text in texts]
