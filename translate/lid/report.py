"""Text report of a language-ID calibration (:func:`polymix.translate.lid.calibrate.calibrate`).

For every part of the dev files (UDHR paragraphs, UDHR cut to captions, the short real texts'
calibration and held-out parts) and every language group (script families, detector coverage,
confusable groups): keep of the language's own text, and the reject rates of English, of other
languages, of other languages in the same script and of its confusable neighbours (``near``: Danish
presented as Norwegian; they count in part, see ``group_credits``) -- the lowest over the group's languages
with the language that has it, and the mean. Then the weakest languages, one line per short file
(its calib and held-out parts on their own: UD, Tatoeba and captions are different kinds of text)
and, optionally, the full per-language table.
"""

from __future__ import annotations

from typing import Any

from polymix import languages as L
from polymix.translate.lid.measure import misses as missed_of, overall, wilson
from polymix.translate.lid.scoring import coverage, to_nllb
from polymix.translate.lid.settings import LidSettings

SCRIPT_FAMILIES = {
    "Latin": {"Latn"},
    "Cyrillic": {"Cyrl"},
    "Arabic": {"Arab"},
    "Indic": {"Deva", "Beng", "Guru", "Gujr", "Taml", "Telu", "Knda", "Mlym", "Sinh"},
    "CJK": {"Hans", "Hant", "Jpan", "Hang"},
    "other scripts": {"Grek", "Hebr", "Armn", "Geor", "Ethi", "Thai", "Laoo", "Khmr", "Mymr"},
}


def language_groups(langs: list[str], s: LidSettings) -> dict[str, list[str]]:
    """Reporting groups: script families, detector coverage, declared confusable groups."""
    out: dict[str, list[str]] = {"all": list(langs)}
    for name, scripts in SCRIPT_FAMILIES.items():
        out[f"script: {name}"] = [x for x in langs if x.rsplit("_", 1)[-1] in scripts]

    def own(x: str) -> set[str]:  # the language itself, by code (zho_Hant is langid's zh), not its group
        lang = L.get(x)
        return {x, to_nllb(lang.iso639_1 or lang.mc4_code)}

    knows = {d: [x for x in langs if own(x) & coverage(d)] for d in ("langid", "py3langid")}
    out["known to langid"] = knows["langid"]
    out["unknown to langid"] = [x for x in langs if x not in knows["langid"]]
    out["CLD2 only"] = [x for x in langs if x not in knows["langid"] and x not in knows["py3langid"]]
    for group in s.groups:
        members = [x for x in group if x in langs]
        if len(members) > 1:
            out["group " + "/".join(L.get(x).iso639_1 or x for x in members)] = members
    return {k: v for k, v in out.items() if v}


PARTS = ("paragraph", "caption", "calib", "heldout")
RATES = (
    ("keep", "keep (own language)"),
    ("english", "English rejected"),
    ("other", "other rejected"),
    ("same_script", "same script rejected"),
    ("near", "confusable rejected"),
)


def _cell(rates: dict[str, dict[str, float]], members: list[str], key: str) -> str:
    values = [(rates[x][key], x) for x in members if rates.get(x, {}).get(key, float("nan")) == rates.get(x, {}).get(key)]
    if not values:
        return "-"
    low, who = min(values)
    mean = sum(v for v, _ in values) / len(values)
    return f"{low:.3f} {who:<8} {mean:.3f}"


def _short_keep(rates: dict[str, dict[str, float]]) -> str:
    """How many languages keep < 0.99 of their short texts, with each one's misses and 95% interval."""
    low = sorted((r["keep"], x) for x, r in rates.items() if r["keep"] < 0.99)
    cells = []
    for _, x in low:
        missed, n = missed_of(rates[x])
        lo, hi = wilson(n - missed, n)
        cells.append(f"{x} {missed}/{n} [{lo:.2f}-{hi:.2f}]")
    missed, n = map(sum, zip(*(missed_of(r) for r in rates.values())))
    lo, hi = wilson(n - missed, n)
    return (
        f"keep < 0.99 in {len(low)} of {len(rates)} languages; {missed} of {n} texts missed in all "
        f"(keep {1 - missed / n:.4f}, 95% [{lo:.4f}-{hi:.4f}]); missed/texts [95% interval]: " + ", ".join(cells)
    )


def top3(score: Any) -> str:
    """Each detector's three best labels with their probabilities (CLD2: share of the text)."""
    return " | ".join(
        f"{d}: " + (", ".join(f"{x} {p:.2f}" for x, p in getattr(score, d)[:3]) or "-")
        for d in ("langid", "py3langid", "cld2", "fasttext")
    )


def render(report: dict[str, Any], per_language: bool = False, misses: bool = False) -> str:
    s = report["settings"]
    parts = [p for p in PARTS if p in report]
    langs = sorted({x for p in parts for x in report[p]})
    cal = s.calibration
    lines = [
        f"language-ID calibration: {cal.get('rows')} UDHR paragraphs, short texts {cal.get('short_rows', {})}, "
        f"{len(langs)} languages, {report['seconds']} s",
        "parts: paragraph/caption = UDHR (thresholds chosen on them), calib = short real texts (chosen on them), "
        "heldout = short real texts never used to choose",
        "rates: min (language with it) mean, over the group's languages",
        f"{'group':<26}{'n':>3}  {'part':<9} " + " ".join(f"{title:<24}" for _, title in RATES),
    ]
    for name, members in language_groups(langs, s).items():
        for part in parts:
            lines.append(
                f"{name:<26}{len(members):>3}  {part:<9} "
                + " ".join(f"{_cell(report[part], members, key):<24}" for key, _ in RATES)
            )
    lines.append(
        "targets: keep >= 0.98 (paragraph) / 0.90 (caption) / 0.99 (short texts); English rejected >= 0.995, "
        "other >= 0.98, same script >= 0.90 (confusable: no target, the higher the better)"
    )
    for part in parts:
        o = cal.get("overall", {}).get(part, {})
        lines.append(f"overall {part:<9}: " + ", ".join(f"{k} {v:.4f}" for k, v in o.items()))
        weakest = sorted((report[part][x]["keep"], x) for x in report[part])[:5]
        lines.append("  weakest keep: " + ", ".join(f"{x} {v:.3f}" for v, x in weakest))
        if part in ("calib", "heldout"):  # short texts: ~100-250 a language, so say how sure each rate is
            lines.append("  " + _short_keep(report[part]))
        for key, title in (("same_script", "same-script"), ("near", "confusable")):
            weakest = sorted((r[key], x) for x, r in report[part].items() if r.get(key, float("nan")) == r.get(key))[:5]
            lines.append(f"  weakest {title} reject: " + ", ".join(f"{x} {v:.3f}" for v, x in weakest))
    for name, split_rates in report.get("by_file", {}).items():
        for split, r in split_rates.items():
            o = overall(r)
            low = sorted((v["keep"], x) for x, v in r.items() if v["keep"] < 0.99)
            lines.append(
                f"{name} {split}: keep {o['keep']:.4f}, english {o['english']:.4f}, other {o['other']:.4f}, "
                f"same_script {o['same_script']:.4f}; keep < 0.99 in {len(low)} of {len(r)} languages"
                + (": " + ", ".join(f"{x} {v:.3f}" for v, x in low) if low else "")
            )
    lines.append(
        f"chosen: min_evidence for {len(s.min_evidence)} languages (median "
        f"{sorted(s.min_evidence.values())[len(s.min_evidence) // 2] if s.min_evidence else '-'}), "
        f"repeat_min_words={s.repeat_min_words}, repeat_min_chars={s.repeat_min_chars}, "
        f"min_compression={s.min_compression}, length_ratio=[{s.length_ratio_min}, {s.length_ratio_max}]"
    )
    if report.get("written"):
        lines.append(f"wrote {report['written']}")
    if per_language:
        short = [p for p in parts if p in ("calib", "heldout")]
        lines.append(
            f"{'lang':<10} {'min_ev':>6}  " + " | ".join(f"{p:<33}" for p in parts) + "".join(f" | {p} missed" for p in short)
        )
        lines.append(f"{'':<10} {'':>6}  " + " | ".join(f"{'keep   eng  other same  near':<33}" for _ in parts))
        for x in langs:
            cells = [" ".join(f"{report[p].get(x, {}).get(k, float('nan')):5.3f}" for k, _ in RATES) for p in parts]
            missed = ["{}/{}".format(*missed_of(report[p][x])) if x in report[p] else "-" for p in short]
            lines.append(
                f"{x:<10} {s.min_evidence.get(x, s.min_evidence_default):>6.2f}  "
                + " | ".join(cells)
                + "".join(f" | {m:>7}" for m in missed)
            )
    if misses:  # the texts behind the keep rates, to classify (dev-set noise, close neighbour, rule weakness)
        for part, rows in report.get("misses", {}).items():
            lines.append(f"rejected texts of their own language, {part} ({len(rows)}): lang reason text | each detector's top 3")
            lines += [
                f"{lang} {reason} {text!r} | {top3(score)}" for lang, text, reason, score in sorted(rows, key=lambda r: r[:2])
            ]
    return "\n".join(lines)
