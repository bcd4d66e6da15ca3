"""The translation cache seen from the outside: a warm run is reported as cache hits, not as a
slow model; `polymix cache info` shows what is stored where; `polymix cache clear` empties it."""

from __future__ import annotations

from typer.testing import CliRunner

from polymix.cli import app
from polymix.mix.prepare import PrepareSettings, prepare
from polymix.translate.nllb import RuntimeSettings
from polymix.translate.stage import _SERVICES, TranslateSettings, translate_mix


def test_warm_cache_hits_are_counted_apart_and_the_cache_can_be_inspected_and_cleared(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("POLYMIX_CACHE", str(cache))
    _SERVICES.clear()  # services remember their cache file: make one under this POLYMIX_CACHE
    english = tmp_path / "english"
    prepare(PrepareSettings(source="shapes", out=english, options={"count": 6}), progress=False)

    def run(out):
        settings = TranslateSettings(
            input=english,
            out=tmp_path / out,
            langs="de,fr",
            distribution="replicate",
            model="toy",
            runtime=RuntimeSettings(device="cpu"),
            lid_processes=1,
        )
        return translate_mix(settings, progress=False)["run"]

    cold, warm = run("cold"), run("warm")
    assert cold["translated"] > 0 and cold["hits"] == 0
    assert warm["translated"] == 0 and warm["hits"] == cold["translated"]  # every string came from the cache

    runner = CliRunner()
    out = runner.invoke(app, ["cache", "info"])
    assert out.exit_code == 0, out.output
    assert str(cache) in out.output.replace("\n", "") and "translations" in out.output
    assert f" {cold['translated']} " in out.output  # the strings stored
    assert runner.invoke(app, ["cache", "clear", "--what", "nonsense", "--yes"]).exit_code == 2
    out = runner.invoke(app, ["cache", "clear", "--what", "translations", "--yes"])
    assert out.exit_code == 0 and "removed" in out.output
    assert not (cache / "translations.sqlite").exists()
    _SERVICES.clear()
    assert run("again")["translated"] == cold["translated"]  # cleared: the model works again
