"""The translate stage's settings, written once: ``polymix translate``'s options, the ``translate``
parameter of the ``build-mix`` and ``translate`` flows, and ``prefect.yaml`` are all made from them.

* :class:`TranslateOptions`: how to translate (languages, model, decoding, runtime, language-ID
  filter), everything but where; the flows take it as one parameter (Prefect validates a dict into
  it and shows each field's help in its UI);
* :class:`TranslateSettings`: the same plus ``--in`` and ``--out``, what the stage functions take.

Each field's help is its ``setting(...)`` text (:mod:`polymix.settings`); ``polymix translate --help``
prints it, and tests/test_settings_drift.py fails if a field has no option or flow path.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polymix import languages as L
from polymix.errors import ConfigError
from polymix.settings import setting
from polymix.translate.model import DEFAULT_MODEL
from polymix.translate.nllb import DecodeSettings, RuntimeSettings

if TYPE_CHECKING:  # numpy and the detectors load when the filter runs, not with the command line
    from polymix.translate.lid.settings import LidSettings

_RULES = {">= 0": lambda v: v >= 0, ">= 1": lambda v: v >= 1, "> 0": lambda v: v > 0}


@dataclasses.dataclass
class TranslateOptions:
    """How an English mix is translated (everything but the input and output folders)."""

    langs: str = setting("all", "'all' (mBLIP's 95 languages), or a comma list of NLLB / ISO 639-1 codes")
    distribution: str = setting(
        "mc4", "mc4: mBLIP's mC4 shares, English keeps 43.8%; uniform; replicate: every example into every language"
    )
    english_share: float | None = setting(None, "share of examples kept in English (default 0.438 for mc4, 0 for uniform)")
    seed: int = setting(0, "seed of the language assignment (build-mix: also of the template choice)")
    model: str = setting(
        DEFAULT_MODEL,
        "hub id, local transformers folder, local CTranslate2 folder, or 'toy' (the offline shapes-only demo model)",
    )
    quantization: str = setting(
        "auto",
        "weights of a converted transformers model: auto (float16 on a GPU, int8 on "
        "CPU), int8, int8_float16, float16, bfloat16, float32",
    )
    revision: str | None = setting(None, "hub revision (branch, tag or commit)")
    cache: str | None = setting(None, "translation cache file (default ~/.cache/polymix/translations.sqlite); 'none' disables it")
    decode: DecodeSettings = setting(help="decoding settings (they change the output)", factory=DecodeSettings)
    runtime: RuntimeSettings = setting(
        help="where and how fast to run (left on auto: chosen for the device)", factory=RuntimeSettings
    )
    lid_settings: str | None = setting(
        None, "language-ID filter settings YAML (default: the calibrated translate/lid/settings.yaml)"
    )
    lid_processes: int = setting(
        0,
        "language-ID worker processes (1: in the translating process; 0: auto, 2 on CPU, "
        "the cores the translator leaves on a GPU)",
    )
    round_trip: bool = setting(
        False,
        "back-translate short answers with the same model and check them against the "
        "English (round_trip_action in the language-ID settings)",
    )
    fallback_to_toy: bool = setting(
        False,
        "when the model cannot be reached, translate with the offline toy model "
        "instead and say so in the log and the data card (the demo does)",
    )

    def __post_init__(self) -> None:
        from polymix.translate import assign  # numpy: not at import, the command line starts without it

        if isinstance(self.decode, dict):
            self.decode = DecodeSettings(**self.decode)
        if isinstance(self.runtime, dict):
            self.runtime = RuntimeSettings(**self.runtime)
        if self.distribution not in assign.DISTRIBUTIONS:
            raise ConfigError(f"distribution {self.distribution!r}: valid values are {', '.join(assign.DISTRIBUTIONS)}")
        problems = [
            f"--{name.replace('_', '-')} {value}: must be {rule}"
            for name, value, rule in self._bounds()
            if value is not None and not _RULES[rule](value)
        ]
        if problems:  # every problem at once
            raise ConfigError("; ".join(problems))
        self.lang_list = L.resolve(self.langs)

    def _bounds(self) -> list[tuple[str, Any, str]]:
        """(option, value, rule) of the numeric settings; 0 means auto for the batch budget, threads and the LID pool."""
        r, d = self.runtime, self.decode
        return [
            ("threads", r.threads, ">= 0"),
            ("inter_threads", r.inter_threads, ">= 0"),
            ("intra_threads", r.intra_threads, ">= 0"),
            ("max_batch_tokens", r.max_batch_tokens, ">= 0"),
            ("beam_size", d.beam_size, ">= 1"),
            ("sampling_topk", d.sampling_topk, ">= 1"),
            ("sampling_temperature", d.sampling_temperature, "> 0"),
            ("no_repeat_ngram_size", d.no_repeat_ngram_size, ">= 0"),
            ("repetition_penalty", d.repetition_penalty, "> 0"),
            ("length_ratio", d.length_ratio, "> 0"),
            ("max_input_tokens", d.max_input_tokens, ">= 1"),
            ("lid_processes", self.lid_processes, ">= 0"),
        ]

    def lid(self) -> LidSettings:
        from polymix.translate.lid.settings import LidSettings

        return LidSettings.load(self.lid_settings)

    def options(self) -> dict[str, Any]:
        """The field values by name, to make other settings from these."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(TranslateOptions)}


@dataclasses.dataclass(kw_only=True)
class TranslateSettings(TranslateOptions):
    """:class:`TranslateOptions` applied to one English mix and one output folder."""

    input: Path = setting(help="English mix folder (from `polymix prepare`)", option="--in")
    out: Path = setting(help="output mix folder, partitioned by language")

    @classmethod
    def of(cls, options: TranslateOptions, input: str | Path, out: str | Path) -> "TranslateSettings":
        return cls(**options.options(), input=input, out=out)

    def __post_init__(self) -> None:
        self.input, self.out = Path(self.input), Path(self.out)
        problems = []
        try:
            super().__post_init__()
        except ConfigError as err:
            problems.append(str(err))
        if self.out.exists() and not self.out.is_dir():
            problems.append(f"--out {self.out} is a file: choose a folder")
        if problems:  # every problem at once
            raise ConfigError("; ".join(problems))
        src, dst = self.input.resolve(), self.out.resolve()
        if dst == src or src in dst.parents or dst in src.parents:  # one mix inside the other: readers would mix them
            raise ConfigError(
                f"--out {self.out} and --in {self.input} overlap: a reader of {self.input}/**/*.parquet would "
                "take the translated rows for English ones; choose an --out outside --in (e.g. beside it)"
            )

    def fingerprint(self, model_key: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        """What decides the output rows; a resumed run must match it. The input's content counts
        (``records``: the input's chunk records): the language plan is dealt over the set of all
        input ids. Its path does not: a moved or copied pair of mixes resumes."""
        from polymix import shards  # pyarrow: not at import, the command line starts without it

        return {
            "input_digest": shards.content_digest(records),
            "langs": self.lang_list,
            "distribution": self.distribution,
            "english_share": self.english_share,
            "seed": self.seed,
            "model": model_key,
            "decode": self.decode.cache_key(),
        }

    def service_key(self) -> str:
        return json.dumps(
            [
                self.model,
                self.quantization,
                self.revision,
                self.cache,
                self.fallback_to_toy,
                dataclasses.asdict(self.decode),
                dataclasses.asdict(self.runtime),
            ],
            sort_keys=True,
            default=str,
        )
