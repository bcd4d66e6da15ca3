"""Publish a finished mix to the Hugging Face Hub as a dataset repository.

    polymix publish out/mix --repo-id me/my-mix --dry-run     # list exactly what would be uploaded
    polymix publish out/mix --repo-id me/my-mix               # upload (resumable)
    >>> publish("out/mix", "me/my-mix", dry_run=True)         # same, from Python: the plan

What goes up: the card (``README.md``, ``LICENSE.md``, the chart), ``manifest.json`` and
``_manifest/`` (the build's settings and completion records), the row files ``lang=*/*.parquet``
as they are, and the rejected rows ``_rejected/*.arrow``. Never images (they stay referenced by
path, as mBLIP's released data did) unless ``embed_images``: then every row file is rewritten
under ``.publish/`` with an ``image`` column of the ``datasets`` ``Image`` feature (the bytes of
each image, once per row that uses it).

Before anything is uploaded the mix must verify against its records and its card must pass the
Hub's metadata rules (:mod:`polymix.data_cards.hub_rules`). Files go up in commits of at most
``max_files`` files / ``max_bytes`` bytes, each with a message naming the build's settings; files
the repository already holds with the same content (LFS sha256, or git blob id for small files)
are skipped, so a publish that was interrupted continues where it stopped when run again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from polymix.data_cards.card import CHART, LICENSE_FILE, read_metadata, write_card
from polymix.data_cards.hub_rules import check_metadata
from polymix import integrity, shards
from polymix.errors import ConfigError

STAGING = ".publish"
MAX_FILES = 1000  # files per commit: the Hub advises well under a few thousand operations per commit
MAX_BYTES = 20 * 2**30


@dataclass(frozen=True)
class Upload:
    """One file to publish: where it goes in the repo, where it is here, its size and sha256."""

    path_in_repo: str
    local: Path
    size: int
    sha256: str


def _git_blob_id(path: Path) -> str:
    """The id git (and the Hub, for non-LFS files) gives a file's content."""
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _upload(root: Path, rel: str, local: Path | None = None, sha256: str | None = None) -> Upload:
    local = local or root / rel
    return Upload(rel, local, local.stat().st_size, sha256 or shards.sha256_file(local))


def embed_images(root: Path, rel: str) -> Path:
    """A copy of row file ``rel`` whose ``image`` column is a ``datasets`` ``Image`` (bytes + path)."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = root / STAGING / rel
    table = pq.read_table(root / rel)
    roots = shards.image_roots(root)
    cells = []
    for source, image in zip(table["source"].to_pylist(), table["image"].to_pylist()):
        base = roots.get(source)
        path = None if base is None or image.startswith(("http://", "https://")) else base / image
        if path is None or not path.is_file():
            raise ConfigError(
                f"{root / rel}: image {image!r} of source {source!r} not found"
                f"{'' if path is None else f' at {path}'}; fix the mix's image root or publish without --embed-images"
            )
        cells.append({"bytes": path.read_bytes(), "path": image})
    features = datasets.Features.from_arrow_schema(table.schema)
    features["image"] = datasets.Image()
    column = pa.array(cells, type=features.arrow_schema.field("image").type)
    table = table.set_column(table.schema.get_field_index("image"), "image", column).replace_schema_metadata(None)
    table = table.cast(features.arrow_schema)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    pq.write_table(table, tmp, compression=shards.COMPRESSION, row_group_size=1024)  # images make rows large
    tmp.replace(out)
    return out


def plan(root: str | Path, embed: bool = False) -> list[Upload]:
    """Every file a publish of ``root`` uploads, in upload order (row files first, card last)."""
    root = Path(root)
    uploads: list[Upload] = []
    for record in shards.read_records(root):
        for f in record["files"]:
            if embed and not f.get("rejected"):
                uploads.append(_upload(root, f["path"], embed_images(root, f["path"])))
            else:
                uploads.append(_upload(root, f["path"], sha256=f["sha256"]))
    meta = sorted(p.relative_to(root).as_posix() for p in (root / "_manifest").rglob("*") if p.is_file())
    tail = meta + [shards.MANIFEST, CHART, LICENSE_FILE, "README.md"]
    return uploads + [_upload(root, rel) for rel in tail if (root / rel).is_file()]


def commit_message(root: Path, part: int, parts: int) -> str:
    """A commit's message: what the mix is and the settings it was built with."""
    m = shards.load_manifest(root)
    head = (
        f"polymix publish {root.resolve().name} ({part}/{parts}): {m.get('rows', 0):,} rows, "
        f"{len(m.get('rows_per_lang') or {})} languages"
    )
    settings = {k: m[k] for k in ("mt_model", "distribution", "decode", "seed") if m.get(k) is not None}
    for name in ("translate.json", "lid.json"):
        path = root / "_manifest" / name
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            # the per-language length ratios and calibration notes are long; the card lists them
            settings[name.removesuffix(".json")] = {
                k: v for k, v in data.items() if k not in ("length_ratio_expected", "calibration")
            }
    return head + "\n\n" + json.dumps(settings, indent=1, sort_keys=True, default=str)


def batches(uploads: list[Upload], max_files: int = MAX_FILES, max_bytes: int = MAX_BYTES) -> list[list[Upload]]:
    out: list[list[Upload]] = [[]]
    for u in uploads:
        if out[-1] and (len(out[-1]) >= max_files or sum(x.size for x in out[-1]) + u.size > max_bytes):
            out.append([])
        out[-1].append(u)
    return [b for b in out if b]


def check_ready(root: Path) -> None:
    """Refuse a mix that is unfinished, damaged, or whose card the Hub would reject."""
    shards.load_manifest(root)  # FileNotFoundError naming the fix when it is no mix
    problems = integrity.verify(root)
    if problems:
        raise ConfigError(
            f"{root} does not verify ({problems[0]}{f' and {len(problems) - 1} more' if len(problems) > 1 else ''}); "
            f"run `polymix inspect {root} --verify` and rebuild the damaged chunks before publishing"
        )
    readme = root / "README.md"
    if not readme.exists():
        write_card(root)
    problems = check_metadata(read_metadata(readme))
    if problems:
        raise ConfigError(
            f"{readme}: the Hub would reject its metadata ({'; '.join(problems)}); regenerate it with `polymix card {root}`"
        )


def _remote_files(api, repo_id: str, revision: str | None) -> dict[str, tuple[str | None, str | None]]:
    """path -> (LFS sha256, git blob id) of what the repo already holds; empty for a new repo."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        entries = api.list_repo_tree(repo_id, repo_type="dataset", recursive=True, revision=revision)
        return {
            e.path: (getattr(getattr(e, "lfs", None), "sha256", None), getattr(e, "blob_id", None))
            for e in entries
            if hasattr(e, "blob_id")
        }
    except (RepositoryNotFoundError, RevisionNotFoundError):
        return {}


def _already_there(u: Upload, remote: dict[str, tuple[str | None, str | None]]) -> bool:
    if u.path_in_repo not in remote:
        return False
    lfs_sha, blob = remote[u.path_in_repo]
    return lfs_sha == u.sha256 or (blob is not None and blob == _git_blob_id(u.local))


def publish(
    root: str | Path,
    repo_id: str,
    *,
    dry_run: bool = False,
    embed: bool = False,
    private: bool = False,
    revision: str | None = None,
    api=None,
    max_files: int = MAX_FILES,
    max_bytes: int = MAX_BYTES,
    progress: bool = True,
) -> dict[str, Any]:
    """Upload a mix (see the module docstring); returns what was planned, skipped and uploaded."""
    root = Path(root)
    check_ready(root)
    uploads = plan(root, embed)
    result: dict[str, Any] = {
        "repo_id": repo_id,
        "files": len(uploads),
        "bytes": sum(u.size for u in uploads),
        "plan": [u.path_in_repo for u in uploads],
        "skipped": [],
        "commits": [],
    }
    if dry_run:
        result["commits"] = [[u.path_in_repo for u in b] for b in batches(uploads, max_files, max_bytes)]
        return result
    from huggingface_hub import CommitOperationAdd, HfApi
    from tqdm.auto import tqdm

    api = api or HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    remote = _remote_files(api, repo_id, revision)
    todo = [u for u in uploads if not _already_there(u, remote)]
    result["skipped"] = [u.path_in_repo for u in uploads if u not in todo]
    parts = batches(todo, max_files, max_bytes)
    for i, part in enumerate(tqdm(parts, desc="commits", unit="commit", disable=not progress), 1):
        api.create_commit(
            repo_id,
            repo_type="dataset",
            revision=revision,
            commit_message=commit_message(root, i, len(parts)),
            operations=[CommitOperationAdd(path_in_repo=u.path_in_repo, path_or_fileobj=str(u.local)) for u in part],
        )
        result["commits"].append([u.path_in_repo for u in part])
    return result


def describe(result: dict[str, Any], dry_run: bool) -> Iterable[str]:
    """Lines for the terminal: the files (dry run) or what was uploaded and skipped."""
    if dry_run:
        yield (
            f"would upload {result['files']} files ({result['bytes'] / 2**20:.1f} MiB) to datasets/{result['repo_id']} "
            f"in {len(result['commits'])} commit(s); files already there with the same content are skipped at upload time:"
        )
        yield from (f"  {p}" for p in result["plan"])
    else:
        n = sum(len(c) for c in result["commits"])
        yield (
            f"uploaded {n} files in {len(result['commits'])} commit(s) to datasets/{result['repo_id']}; "
            f"{len(result['skipped'])} already there"
        )
