"""Publishing a mix: the dry run lists exactly the upload, a damaged mix is refused, an interrupted
upload resumes, and --embed-images writes a real datasets Image feature.

The Hub cannot be reached here: ``FakeHub`` stands for it (create_repo, list_repo_tree,
create_commit, with LFS sha256 for data files and git blob ids for small ones); everything on
polymix's side (plan, checks, batching, resume, commit messages) runs for real.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from polymix.data_cards import publish as P
from polymix import shards
from polymix.cli import app
from polymix.mix.prepare import PrepareSettings, prepare
from polymix.errors import ConfigError


@pytest.fixture
def mix(tmp_path) -> Path:
    out = tmp_path / "mix"
    prepare(
        PrepareSettings(source="shapes", out=out, limit=40, chunk_size=15, options={"size": 32, "val_every": 3}), progress=False
    )
    return out


class FakeHub:
    """What polymix needs of ``HfApi``, in memory; ``fail_at`` makes that commit raise (a dropped connection)."""

    def __init__(self, fail_at: int | None = None):
        self.files: dict[str, bytes] = {}
        self.commits: list[tuple[str, list[str]]] = []
        self.fail_at, self.calls = fail_at, 0

    def create_repo(self, repo_id, repo_type, private, exist_ok):
        assert repo_type == "dataset" and exist_ok

    def list_repo_tree(self, repo_id, repo_type, recursive, revision):
        for path, data in self.files.items():
            lfs = SimpleNamespace(sha256=hashlib.sha256(data).hexdigest()) if path.endswith((".parquet", ".arrow")) else None
            blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            yield SimpleNamespace(path=path, blob_id=blob, lfs=lfs)

    def create_commit(self, repo_id, repo_type, revision, commit_message, operations):
        self.calls += 1
        if self.calls == self.fail_at:
            raise ConnectionError("connection reset")
        for op in operations:
            self.files[op.path_in_repo] = Path(op.path_or_fileobj).read_bytes()
        self.commits.append((commit_message, [op.path_in_repo for op in operations]))


def _expected_files(mix: Path) -> set[str]:
    rows = {f["path"] for rec in shards.read_records(mix) for f in rec["files"]}
    meta = {p.relative_to(mix).as_posix() for p in (mix / "_manifest").rglob("*") if p.is_file()}
    return rows | meta | {"manifest.json", "README.md", "LICENSE.md", "rows_per_language.png"}


def test_dry_run_lists_exactly_the_mix_and_no_images(mix):
    result = P.publish(mix, "me/mix", dry_run=True)
    assert set(result["plan"]) == _expected_files(mix) and len(result["plan"]) == len(set(result["plan"]))
    assert any(p.startswith("lang=eng_Latn/validation-") for p in result["plan"])
    assert not any(p.startswith("images/") or p.endswith(".png") and p != "rows_per_language.png" for p in result["plan"])
    assert result["plan"][-1] == "README.md"  # the card goes last: a half-published repo has no card yet
    assert result["bytes"] == sum((mix / p).stat().st_size for p in result["plan"])

    out = CliRunner().invoke(app, ["publish", str(mix), "--repo-id", "me/mix", "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "would upload" in out.output and all(p in out.output for p in result["plan"])


def test_a_damaged_mix_is_refused(mix):
    shard = shards.shard_files(mix)[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="does not verify"):
        P.publish(mix, "me/mix", dry_run=True)
    out = CliRunner().invoke(app, ["publish", str(mix), "--repo-id", "me/mix", "--dry-run"])
    assert out.exit_code == 2 and "does not verify" in out.output


def test_an_interrupted_upload_resumes_without_uploading_twice(mix):
    hub = FakeHub(fail_at=2)
    with pytest.raises(ConnectionError):
        P.publish(mix, "me/mix", api=hub, max_files=3, progress=False)
    first = set(hub.files)
    assert len(hub.commits) == 1 and len(first) == 3
    hub.fail_at = None
    result = P.publish(mix, "me/mix", api=hub, max_files=3, progress=False)
    assert set(result["skipped"]) == first  # what the first run committed is not sent again
    assert set(hub.files) == _expected_files(mix)
    assert all(hub.files[p] == (mix / p).read_bytes() for p in hub.files)
    message = hub.commits[-1][0]
    assert message.startswith("polymix publish mix (") and "rows" in message
    again = P.publish(mix, "me/mix", api=hub, progress=False)  # nothing changed: nothing to do
    assert again["commits"] == [] and len(again["skipped"]) == len(again["plan"])


def test_embed_images_writes_a_datasets_image_feature(mix):
    import datasets
    import pyarrow.parquet as pq

    result = P.publish(mix, "me/mix", dry_run=True, embed=True)
    row_file = next(p for p in result["plan"] if p.startswith("lang=eng_Latn/part-"))
    staged = mix / P.STAGING / row_file
    ds = datasets.load_dataset("parquet", data_files=str(staged), split="train")
    assert isinstance(ds.features["image"], datasets.Image)
    assert ds.num_rows == pq.ParquetFile(mix / row_file).metadata.num_rows
    assert ds[0]["image"].size == (32, 32)  # decoded by datasets from the embedded bytes
    image_root = mix / shards.load_manifest(mix)["image_roots"]["shapes"]
    raw = ds.cast_column("image", datasets.Image(decode=False))
    for cell in raw["image"]:
        assert cell["bytes"] == (image_root / cell["path"]).read_bytes()
    assert result["bytes"] > P.publish(mix, "me/mix", dry_run=True)["bytes"]  # the cost of embedding, visible in the plan
