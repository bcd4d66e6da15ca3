"""Resolve ``--model`` to a local CTranslate2 folder that also holds the tokenizer.

``--model`` may be

* a Hugging Face hub id (default ``facebook/nllb-200-distilled-1.3B``, mBLIP's choice; the 600M
  and 3.3B models, distilled or not, work the same): downloaded with ``huggingface_hub`` and
  converted with CTranslate2's converter, once, into the cache
  (``$POLYMIX_CACHE`` or ``~/.cache/polymix``)/``ct2/<org>--<name>/<revision>-<quantization>``;
* a local transformers folder (``config.json`` of an M2M100/NLLB model): converted into the cache
  the same way, keyed by a fingerprint of its files;
* a local CTranslate2 folder (``model.bin``): used as it is.

``toy`` (the offline demo model) is resolved by :func:`polymix.translate.stage.resolve_model`,
which knows both: the toy package builds on this module, not the other way round.

Conversion runs under a file lock, so parallel workers convert once and the others wait. It
writes into a temporary folder and renames it, so a crash never leaves a half-converted model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from filelock import FileLock

log = logging.getLogger(__name__)

DEFAULT_MODEL = "facebook/nllb-200-distilled-1.3B"
QUANTIZATIONS = ("int8", "int8_float16", "int8_float32", "int8_bfloat16", "float16", "bfloat16", "float32")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model")
HUB_PATTERNS = ["*.json", "*.model", "*.safetensors", "*.bin", "*.txt"]


class ModelUnavailableError(RuntimeError):
    """The model cannot be found or downloaded; the message says what to pass instead."""


@dataclasses.dataclass(frozen=True)
class ResolvedModel:
    path: Path
    """CTranslate2 folder holding the converted model and its tokenizer."""
    name: str
    """What the user asked for (hub id or folder path)."""
    revision: str
    """Hub commit, or a fingerprint of the local files."""
    quantization: str

    @property
    def key(self) -> str:
        """Identity of the weights for caches and the ``mt_model`` column."""
        return f"{self.name}@{self.revision[:12]}:{self.quantization}"


def cache_root() -> Path:
    return Path(os.environ.get("POLYMIX_CACHE", Path.home() / ".cache" / "polymix"))


def is_ct2_folder(path: Path) -> bool:
    return (path / "model.bin").is_file()


def is_transformers_folder(path: Path) -> bool:
    config = path / "config.json"
    if not config.is_file() or is_ct2_folder(path):
        return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type") in ("m2m_100", "nllb_moe")
    except json.JSONDecodeError:
        return False


def fingerprint(folder: Path, names: tuple[str, ...] | None = None) -> str:
    """Hash of a folder's files (names, sizes and contents of the small ones, sizes+mtime of big ones)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file() and (names is None or p.name in names)):
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0".encode())
        if stat.st_size <= 64 << 20:
            digest.update(path.read_bytes())
        else:  # hashing GBs of weights on every start is too slow; size + mtime identify them
            digest.update(str(stat.st_mtime_ns).encode())
    return digest.hexdigest()


def resolve(
    model: str = DEFAULT_MODEL, quantization: str = "auto", revision: str | None = None, cache_dir: Path | None = None
) -> ResolvedModel:
    """Return a ready CTranslate2 folder for ``model`` (see the module docstring). ``quantization``
    auto: float16 where CTranslate2 sees a GPU, int8 on CPU (``device.conversion_quantization``)."""
    if quantization == "auto":
        from polymix.translate.device import conversion_quantization, probe

        quantization = conversion_quantization(probe().device, "auto")[0]
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization {quantization!r}: valid values are auto, {', '.join(QUANTIZATIONS)}")
    cache = Path(cache_dir) if cache_dir else cache_root()
    local = Path(model).expanduser()
    if local.exists():
        if is_ct2_folder(local):
            if not any((local / f).exists() for f in TOKENIZER_FILES):
                raise ModelUnavailableError(
                    f"{local}: a CTranslate2 model without a tokenizer; save the NLLB tokenizer into that folder"
                )
            return ResolvedModel(local.resolve(), str(local), fingerprint(local), _ct2_quantization(local, quantization))
        if is_transformers_folder(local):
            rev = fingerprint(local)
            target = cache / "ct2" / f"local--{local.resolve().name}" / f"{rev[:16]}-{quantization}"
            return ResolvedModel(_convert(local, target, quantization), str(local), rev, quantization)
        raise ModelUnavailableError(
            f"{local} is neither a CTranslate2 model folder (model.bin) nor a transformers NLLB/M2M100 folder (config.json)"
        )
    if model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise ModelUnavailableError(f"--model {model!r}: no such folder, and not a hub id of the form org/name")
    snapshot = _download(model, revision)
    rev = snapshot.name  # snapshot folders are named by commit hash
    target = cache / "ct2" / model.replace("/", "--") / f"{rev}-{quantization}"
    return ResolvedModel(_convert(snapshot, target, quantization), model, rev, quantization)


def _ct2_quantization(folder: Path, requested: str) -> str:
    """A CTranslate2 folder is already quantized; its config may say how (else trust the request)."""
    config = folder / "config.json"
    if config.is_file():
        try:
            return json.loads(config.read_text(encoding="utf-8")).get("quantization", requested) or requested
        except json.JSONDecodeError:
            pass
    return requested


def _download(model: str, revision: str | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        # huggingface_hub shows its own progress bars, and falls back to its cache when offline.
        return Path(snapshot_download(model, revision=revision, allow_patterns=HUB_PATTERNS))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as err:
        raise ModelUnavailableError(
            f"cannot download {model!r}: the Hugging Face hub cannot be reached and the model is not in the local "
            f"cache ({type(err).__name__}). Pass a local folder instead: --model /path/to/{model.split('/')[-1]} "
            "(a transformers folder from `hf download` on a machine with access, or a converted CTranslate2 folder)."
        ) from None


def _convert(source: Path, target: Path, quantization: str) -> Path:
    """Convert ``source`` into ``target`` once (under a lock; atomic rename)."""
    if is_ct2_folder(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if is_ct2_folder(target):  # another worker finished while we waited
            return target
        import ctranslate2.converters

        log.warning("converting %s to CTranslate2 (%s) into %s; this happens once", source, quantization, target)
        started = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            converter = ctranslate2.converters.TransformersConverter(str(source))
            converter.convert(str(tmp / "model"), quantization=quantization, force=True)
            copy_tokenizer(source, tmp / "model")
            check_language_codes(tmp / "model")
            os.replace(tmp / "model", target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.warning("converted in %.1f s", time.perf_counter() - started)
    return target


def copy_tokenizer(source: Path, target: Path) -> None:
    copied = [name for name in TOKENIZER_FILES if (source / name).is_file()]
    for name in copied:
        shutil.copy2(source / name, target / name)
    if not copied:
        raise ModelUnavailableError(f"{source}: no tokenizer files ({', '.join(TOKENIZER_FILES)}) to go with the model")


def check_language_codes(folder: Path, codes: tuple[str, ...] = ("eng_Latn", "deu_Latn", "zho_Hans")) -> None:
    """The converted vocabulary must contain the NLLB language codes (a tokenizer saved without
    them makes the converter pad the vocabulary with ``madeupword`` tokens, silently)."""
    vocab_file = folder / "shared_vocabulary.json"
    if vocab_file.is_file():
        vocab = set(json.loads(vocab_file.read_text(encoding="utf-8")))
    else:
        vocab = set((folder / "shared_vocabulary.txt").read_text(encoding="utf-8").splitlines())
    missing = [c for c in codes if c not in vocab]
    if missing:
        raise ModelUnavailableError(
            f"{folder}: the converted vocabulary lacks the NLLB language codes {missing}; the tokenizer was saved "
            "without them (load it with additional_special_tokens=<the FAIRSEQ language codes> and save it again)"
        )
