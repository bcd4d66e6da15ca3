"""Text report of a language-ID calibration (:func:`polymix.translate.lid_calibrate.calibrate`).

Per language group (scripts, detector coverage, declared confusable groups) and length
(paragraph, caption), the three rates of the targets: the lowest over the group's languages with
the language that has it, and the mean. Then the weakest languages, the grid of candidate
thresholds, and optionally the full per-language table.
"""

from __future__ import annotations

from typing import Any

from polymix.mix import languages as L
from polymix.translate.lid import coverage, to_nllb
from polymix.translate.lid_settings import LidSettings

SCRIPT_FAMILIES = {
    "Latin": {"Latn"}, "Cyrillic": {"Cyrl"}, "Arabic": {"Arab"},
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


def _cell(rates: dict[str, dict[str, float]], members: list[str], key: str) -> str:
    values = [(rates[x][key], x) for x in members if key in rates.get(x, {})]
    if not values:
        return "-"
    low, who = min(values)
    mean = sum(v for v, _ in values) / len(values)
    return f"{low:.3f} {who:<8} {mean:.3f}"


def render(report: dict[str, Any], per_language: bool = False) -> str:
    s = report["settings"]
    para, cap = report["paragraph"], report["caption"]
    langs = sorted(para)
    lines = [f"language-ID calibration: {s.calibration.get('rows')} texts, {len(langs)} languages, {report['seconds']} s",
             "rates: min (language with it) mean, over the group's languages",
             f"{'group':<26}{'n':>3}  {'length':<9} {'keep (own language)':<24} {'English rejected':<24} {'other rejected':<24}"]
    for name, members in language_groups(langs, s).items():
        for length, rates in (("paragraph", para), ("caption", cap)):
            lines.append(f"{name:<26}{len(members):>3}  {length:<9} " + " ".join(
                f"{_cell(rates, members, k):<24}" for k in ("keep", "english", "other")))
    lines.append("targets: keep >= 0.98 (paragraph) / 0.90 (caption); English and other rejected >= 0.98 / 0.90")
    for length, rates in (("paragraph", para), ("caption", cap)):
        weakest = sorted((rates[x]["keep"], x) for x in langs)[:5]
        lines.append(f"weakest keep, {length}: " + ", ".join(f"{x} {v:.3f}" for v, x in weakest))
        weakest = sorted((rates[x]["other"], x) for x in langs if "other" in rates[x])[:5]
        lines.append(f"weakest other-reject, {length}: " + ", ".join(f"{x} {v:.3f}" for v, x in weakest))
    lines.append("grid (py3langid vote_min_prob -> smallest / mean headroom over all targets): "
                 + ", ".join(f"{k}: {v[0]:+.3f}/{v[1]:.3f}" for k, v in s.calibration.get("grid", {}).items()))
    lines.append(f"chosen: vote_min_prob={s.vote_min_prob}, repeat_min_words={s.repeat_min_words}, "
                 f"repeat_min_chars={s.repeat_min_chars}, min_compression={s.min_compression}, "
                 f"length_ratio=[{s.length_ratio_min}, {s.length_ratio_max}]")
    if report.get("written"):
        lines.append(f"wrote {report['written']}")
    if per_language:
        lines.append(f"{'lang':<10} {'keep':>6} {'eng':>6} {'other':>6} | {'keep':>6} {'eng':>6} {'other':>6}   (paragraph | caption)")
        for x in langs:
            cells = [f"{r[x].get(k, float('nan')):6.3f}" for r in (para, cap) for k in ("keep", "english", "other")]
            lines.append(f"{x:<10} {' '.join(cells[:3])} | {' '.join(cells[3:])}")
    return "\n".join(lines)
