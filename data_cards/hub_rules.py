"""What the Hugging Face Hub accepts in a dataset card's YAML, checked offline.

    problems = check_metadata(read_metadata("out/mix/README.md"))   # [] when the Hub would accept it

The Hub validates a card's metadata on upload; polymix checks the same rules before it publishes
(and in its tests), with no network: the keys the Hub documents for dataset cards
(huggingface.co/docs/hub/datasets-cards and the dataset card template in ``huggingface_hub``),
their allowed values where the Hub fixes them, and the ``configs`` that ``datasets`` parses
(``datasets.utils.metadata.MetadataConfigs``). Lists hold the values polymix can write plus the
common ones; an unknown value is reported, never silently passed.
"""

from __future__ import annotations

import re
from typing import Any

import langcodes

SIZE_CATEGORIES = {
    "n<1K",
    "1K<n<10K",
    "10K<n<100K",
    "100K<n<1M",
    "1M<n<10M",
    "10M<n<100M",
    "100M<n<1B",
    "1B<n<10B",
    "10B<n<100B",
    "100B<n<1T",
    "n>1T",
    "n>1B",
}
MULTILINGUALITY = {"monolingual", "multilingual", "translation", "other"}
CREATORS = {"crowdsourced", "expert-generated", "found", "machine-generated", "other", "no-annotation"}
TASK_CATEGORIES = {
    "image-to-text",
    "visual-question-answering",
    "image-text-to-text",
    "text-generation",
    "translation",
    "image-classification",
    "text-classification",
    "question-answering",
    "summarization",
    "feature-extraction",
    "zero-shot-classification",
    "other",
}
LICENSES = {
    "apache-2.0",
    "mit",
    "cc-by-4.0",
    "cc-by-sa-4.0",
    "cc-by-nc-4.0",
    "cc-by-nc-sa-4.0",
    "cc0-1.0",
    "odc-by",
    "openrail",
    "other",
    "unknown",
}
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")  # ISO 639-1 or 639-3
_BCP47 = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$")  # language[-Script][-REGION]
_SLUG = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_SOURCE = re.compile(r"^(original|extended(\|[A-Za-z0-9_.\-/]+)?)$")
_SPLIT = re.compile(r"^\w+(\.\w+)*$")  # datasets' split-name rule


def _values(meta: dict[str, Any], key: str) -> list[Any]:
    value = meta.get(key)
    return [] if value is None else value if isinstance(value, list) else [value]


def _check_configs(configs: Any) -> list[str]:
    if not isinstance(configs, list):
        return ["configs: must be a list"]
    problems, names, defaults = [], set(), 0
    for i, config in enumerate(configs):
        name = config.get("config_name") if isinstance(config, dict) else None
        if not name:
            problems.append(f"configs[{i}]: no config_name")
            continue
        if name in names:
            problems.append(f"configs: {name!r} twice")
        names.add(name)
        defaults += bool(config.get("default"))
        files = config.get("data_files")
        if not isinstance(files, list) or not files:
            problems.append(f"configs[{name}]: data_files must be a non-empty list of {{split, path}}")
            continue
        splits = [f.get("split") for f in files if isinstance(f, dict)]
        if len(splits) != len(files) or any(not isinstance(f.get("path"), (str, list)) for f in files):
            problems.append(f"configs[{name}]: every data_files entry needs a split and a path")
        for split in splits:
            if not isinstance(split, str) or not _SPLIT.match(split):
                problems.append(f"configs[{name}]: split name {split!r} is not a valid split name (\\w+)")
        if len(set(splits)) != len(splits):
            problems.append(f"configs[{name}]: a split is listed twice")
    if defaults > 1:
        problems.append("configs: more than one default config")
    return problems


def check_metadata(meta: dict[str, Any]) -> list[str]:
    """Every way ``meta`` (a card's YAML front matter) breaks the Hub's rules; empty when it is fine."""
    # the regexes fix the form the Hub writes (langcodes also reads deu_Latn); langcodes knows which
    # language, script and region subtags are registered (xx-Latn has the form and is no language)
    problems = [
        f"language: {x!r} is not an ISO 639-1/639-3 code"
        for x in _values(meta, "language")
        if not (_LANGUAGE.match(str(x)) and langcodes.tag_is_valid(str(x)))
    ]
    problems += [
        f"language_details: {x!r} is not a BCP-47 tag (e.g. de-Latn)"
        for x in _values(meta, "language_details")
        if not (_BCP47.match(str(x)) and langcodes.tag_is_valid(str(x)))
    ]
    for key, allowed in (
        ("size_categories", SIZE_CATEGORIES),
        ("multilinguality", MULTILINGUALITY),
        ("annotations_creators", CREATORS),
        ("language_creators", CREATORS),
        ("task_categories", TASK_CATEGORIES),
        ("license", LICENSES),
    ):
        problems += [f"{key}: {x!r} is not one of the Hub's values" for x in _values(meta, key) if x not in allowed]
    if "other" in _values(meta, "license"):
        if not _SLUG.match(str(meta.get("license_name", ""))):
            problems.append("license_name: `license: other` needs a lowercase slug (letters, digits, '-', '.')")
        if not meta.get("license_link"):
            problems.append("license_link: `license: other` needs a link to the license text (a URL or a file in the repo)")
    problems += [
        f"source_datasets: {x!r} is not 'original' or 'extended|<dataset>'"
        for x in _values(meta, "source_datasets")
        if not _SOURCE.match(str(x))
    ]
    if "configs" in meta:
        problems += _check_configs(meta["configs"])
    return problems
