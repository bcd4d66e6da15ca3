"""The translation settings are written once (translate/settings.py) and every way in reaches each of
them: ``polymix translate``'s options, the flows' ``translate`` parameter (with its help in the
Prefect UI), and ``polymix build-mix --set``. A field added without a path, or an option that no
longer reaches its field, fails here."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from polymix.cli import app
from polymix.settings import leaves
from polymix.translate.settings import TranslateOptions, TranslateSettings

runner = CliRunner()
# what users' scripts, the Makefile and the README pass today: these names must keep working
EXISTING_OPTIONS = {
    "--in",
    "--out",
    "--langs",
    "--distribution",
    "--english-share",
    "--seed",
    "--model",
    "--quantization",
    "--revision",
    "--cache",
    "--beam-size",
    "--sampling-topk",
    "--sampling-temperature",
    "--no-repeat-ngram-size",
    "--repetition-penalty",
    "--length-ratio",
    "--max-input-tokens",
    "--device",
    "--device-index",
    "--compute-type",
    "--threads",
    "--inter-threads",
    "--intra-threads",
    "--max-batch-tokens",
    "--lid-settings",
    "--lid-processes",
    "--round-trip",
    "--no-round-trip",
    "--quiet",
    "-q",
}
CHOICES = {"langs": "de,fr", "distribution": "uniform", "model": "toy", "device_index": "0,1"}


def _other_value(leaf, tmp_path: Path):
    """A valid value of the leaf that differs from its default (and from every other leaf's)."""
    tp = typing.get_args(leaf.type)[0] if typing.get_origin(leaf.type) in (typing.Union, type(int | None)) else leaf.type
    if leaf.name in CHOICES:
        return CHOICES[leaf.name]
    if tp is bool:
        return not leaf.default
    if tp is Path:
        return tmp_path / leaf.name
    if tp is int:
        return (leaf.default or 0) + 2 + len(leaf.name)  # distinct per leaf: a swapped pair would show
    if tp is float:
        return 0.25 if leaf.name == "english_share" else (leaf.default or 0) + 0.5 + len(leaf.name) / 100
    assert tp is str, f"{leaf.name}: no test value for {tp}; extend _other_value"
    return f"custom-{leaf.name}"


def _argv(values: dict) -> list[str]:
    argv = []
    for leaf in leaves(TranslateSettings):
        value = values[leaf.name]
        if isinstance(value, bool):
            argv.append(leaf.flag if value else "--no-" + leaf.flag[2:])
        else:
            argv += [leaf.flag, str(value)]
    return argv


def _leaf_value(settings, leaf):
    node = settings
    for part in leaf.path:
        node = getattr(node, part)
    return node


def _expected(leaf, value):
    return (0, 1) if leaf.name == "device_index" else value


def test_every_setting_has_help_and_one_unique_option():
    found = leaves(TranslateSettings)
    assert {leaf.path[-1] for leaf in found} >= {"beam_size", "length_extra", "device_index", "fallback_to_toy", "round_trip"}
    assert all(leaf.help for leaf in found), [leaf.name for leaf in found if not leaf.help]
    assert len({leaf.flag for leaf in found}) == len(found)
    # decode.seed is its own option: the sampling seed does not follow the language assignment's --seed
    assert {leaf.path: leaf.flag for leaf in found}[("decode", "seed")] == "--decode-seed"


def test_polymix_translate_has_an_option_for_every_setting_and_the_old_names():
    command = typer.main.get_command(app).commands["translate"]
    flags = {flag for param in command.params for flag in (*param.opts, *param.secondary_opts)}
    wanted = {leaf.flag for leaf in leaves(TranslateSettings)}
    assert wanted <= flags, sorted(wanted - flags)
    assert EXISTING_OPTIONS <= flags, sorted(EXISTING_OPTIONS - flags)
    help_by_flag = {param.opts[0]: param.help for param in command.params}
    for leaf in leaves(TranslateSettings):  # every option explained, by its field's own words
        assert help_by_flag[leaf.flag] == leaf.help, leaf.name
    assert runner.invoke(app, ["translate", "--help"]).exit_code == 0


def test_every_translate_option_reaches_its_setting(tmp_path):
    from polymix.settings import nest

    values = {leaf.name: _other_value(leaf, tmp_path) for leaf in leaves(TranslateSettings)}
    for leaf in leaves(TranslateSettings):
        assert values[leaf.name] != leaf.default, leaf.name
    command = typer.main.get_command(app).commands["translate"]
    ctx = command.make_context("translate", _argv(values))
    parsed = dict(ctx.params)
    assert parsed.pop("quiet") is False
    settings = TranslateSettings(**nest(TranslateSettings, parsed))
    for leaf in leaves(TranslateSettings):
        assert _leaf_value(settings, leaf) == _expected(leaf, values[leaf.name]), leaf.name


@pytest.mark.parametrize("flow_name", ["build_mix", "translate_flow"])
def test_the_flows_take_the_settings_as_one_parameter_with_their_help(flow_name):
    from polymix.flows import build_mix as flows

    flow = getattr(flows, flow_name)
    assert typing.get_type_hints(flow.fn)["translate"] is TranslateOptions
    schema = flow.parameters.model_dump()
    assert not set(schema["properties"]) & {f.name for f in dataclasses.fields(TranslateOptions)}  # no flat copies
    for leaf in leaves(TranslateOptions):  # what the Prefect UI shows: every field, with its help
        section = {(): "TranslateOptions", ("decode",): "DecodeSettings", ("runtime",): "RuntimeSettings"}[leaf.path[:-1]]
        prop = schema["definitions"][section]["properties"][leaf.path[-1]]
        assert prop["description"] == leaf.help, leaf.name


def test_build_mix_set_reaches_every_setting(tmp_path):
    from polymix.cli import _flow_key, _validated
    from polymix.flows.build_mix import build_mix
    from polymix.settings import set_dotted

    params = {"out": str(tmp_path / "mix")}
    values = {}
    for leaf in leaves(TranslateOptions):
        values[leaf.name] = value = _other_value(leaf, tmp_path)
        wire = [0, 1] if leaf.name == "device_index" else value  # YAML has lists, not comma text
        set_dotted(params, _flow_key(".".join(leaf.path)), wire)
    options = _validated(build_mix, params)["translate"]
    assert isinstance(options, TranslateOptions)
    for leaf in leaves(TranslateOptions):
        assert _leaf_value(options, leaf) == _expected(leaf, values[leaf.name]), leaf.name


def test_build_mix_names_a_bad_parameter_in_one_line(tmp_path):
    out = str(tmp_path / "mix")
    bad = runner.invoke(app, ["build-mix", "--out", out, "--set", "decode.beam_size=0"])
    assert bad.exit_code == 2 and "beam_size" in bad.output and "Traceback" not in bad.output, bad.output
    unknown = runner.invoke(app, ["build-mix", "--out", out, "--set", "chunksize=5"])
    assert unknown.exit_code == 2 and "chunksize" in unknown.output and "chunk_size" in unknown.output, unknown.output
    wrong_type = runner.invoke(app, ["build-mix", "--out", out, "--set", "translate.lid_processes=many"])
    assert wrong_type.exit_code == 2 and "lid_processes" in wrong_type.output, wrong_type.output
    assert not (tmp_path / "mix").exists()  # refused before anything ran


def test_every_deployment_in_prefect_yaml_passes_the_flows_check():
    from polymix.cli import _validated
    from polymix.flows.build_mix import build_mix
    from polymix.flows.serve import deployments

    for name, spec in deployments().items():
        options = _validated(build_mix, dict(spec["parameters"]))["translate"]
        assert isinstance(options, TranslateOptions) and options.model == TranslateOptions().model, name  # the one default


# --- prepare: mix/settings.py is the one source of `polymix prepare`'s options and of the flows' source specs
PREPARE_VALUES = {
    "source": "generic",
    "options": ["path=captions.jsonl", "val_every=3"],
    "tasks": "caption,vqa",
    "chunk_size": 7,
    "limit": 11,
    "seed": 5,
    "image_check": "exists",
}


def _prepare_expected(tmp_path: Path) -> dict:
    return {
        **PREPARE_VALUES,
        "out": tmp_path / "mix",
        "image_root": tmp_path / "images",
        "options": {"path": "captions.jsonl", "val_every": "3"},
        "tasks": ("caption", "vqa"),
    }


def test_every_prepare_setting_has_help_and_an_option_that_reaches_it(tmp_path):
    from polymix.mix.settings import PrepareSettings
    from polymix.settings import nest

    found = leaves(PrepareSettings)
    assert {leaf.name for leaf in found} == {f.name for f in dataclasses.fields(PrepareSettings)}
    assert all(leaf.help for leaf in found), [leaf.name for leaf in found if not leaf.help]
    command = typer.main.get_command(app).commands["prepare"]
    help_by_flag = {param.opts[0]: param.help for param in command.params}
    for leaf in found:
        assert help_by_flag[leaf.flag] == leaf.help, leaf.name
    flags = {flag for param in command.params for flag in (*param.opts, *param.secondary_opts)}
    assert {"--source", "--out", "--path", "--option", "-o", "--tasks", "--overwrite", "--quiet", "-q"} <= flags

    expected = _prepare_expected(tmp_path)
    argv = ["--out", str(expected["out"]), "--image-root", str(expected["image_root"])]
    for name, value in PREPARE_VALUES.items():
        for item in value if isinstance(value, list) else [value]:
            argv += ["-o" if name == "options" else "--" + name.replace("_", "-"), str(item)]
    parsed = dict(command.make_context("prepare", argv).params)
    assert (parsed.pop("path"), parsed.pop("overwrite"), parsed.pop("quiet")) == (None, False, False)
    settings = PrepareSettings(**nest(PrepareSettings, parsed))
    assert dataclasses.asdict(settings) == expected
    # the command line's defaults: the demo's source and folder, the dataclass's defaults otherwise
    bare = PrepareSettings(**nest(PrepareSettings, dict(command.make_context("prepare", []).params)))
    assert (bare.source, bare.out) == ("shapes", Path("out/demo"))
    assert dataclasses.asdict(bare) == dataclasses.asdict(PrepareSettings(source="shapes", out="out/demo"))


def test_a_flow_source_spec_reaches_every_prepare_setting(tmp_path, monkeypatch):
    from polymix.flows import build_mix as flows

    seen = []
    monkeypatch.setattr(flows, "prepare", lambda settings, progress: seen.append(settings) or {"rows": 0, "rejected": 0})
    monkeypatch.setattr(flows, "get_run_logger", lambda: __import__("logging").getLogger("test"))
    expected = _prepare_expected(tmp_path)
    spec = {
        "name": expected["source"],
        "options": expected["options"],
        "image_root": str(expected["image_root"]),
        "tasks": list(expected["tasks"]),
        "limit": expected["limit"],
        "image_check": expected["image_check"],
    }
    flows.prepare_source.fn(spec, str(expected["out"]), expected["chunk_size"], expected["seed"])
    assert dataclasses.asdict(seen[0]) == expected


def test_prepare_names_a_bad_option_in_one_line(tmp_path):
    bad = runner.invoke(app, ["prepare", "--out", str(tmp_path / "m"), "-o", "count"])
    assert bad.exit_code == 2 and "--option 'count'" in bad.output and "KEY=VALUE" in bad.output, bad.output
    assert "Traceback" not in bad.output
