import subprocess
import sys

import pytest
from typer.testing import CliRunner

from polymix.cli import app

runner = CliRunner()
COMMANDS = [
    "langs",
    "sources",
    "templates",
    "prepare",
    "inspect",
    "translate",
    "build-mix",
    "lid-check",
    "lid-calibrate",
    "card",
    "publish",
    "cache",
    "train",
    "eval",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = runner.invoke(app, [command, "--help"], prog_name="polymix")
    assert result.exit_code == 0, result.output
    assert f"Usage: polymix {command}" in result.output and "─ Options ─" in result.output  # train and eval too: one typer style


def test_top_level_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and all(c in result.output for c in COMMANDS)


def test_langs_prints_the_registry_and_rejects_unknown_codes():
    result = runner.invoke(app, ["langs"], terminal_width=200)
    assert result.exit_code == 0
    assert "96 languages" in result.output and "zho_Hans" in result.output and "yor_Latn" in result.output
    bad = runner.invoke(app, ["langs", "--langs", "de,german"])
    assert bad.exit_code == 2 and "'german' (did you mean deu_Latn (German)" in bad.output
    assert "yor_Latn" not in bad.output  # the nearest codes, not all 96


def test_version_and_help_without_type_noise():
    from polymix import __version__

    out = runner.invoke(app, ["--version"])
    assert out.exit_code == 0 and out.output.strip() == f"polymix {__version__}"
    helptext = runner.invoke(app, ["translate", "--help"], terminal_width=200).output
    assert "--quiet" in helptext and "--seed" in helptext
    assert "<bool>" not in helptext and "<str>" not in helptext
    assert "<int>" in helptext and "<path>" in helptext  # types that inform stay


def test_sources_lists_every_source_with_options():
    result = runner.invoke(app, ["sources"], terminal_width=200)
    assert result.exit_code == 0
    for name in ("coco", "vqav2", "aokvqa", "generic", "hf", "shapes"):
        assert f"{name}:" in result.output
    assert "count=100" in result.output


def test_prepare_then_inspect(tmp_path):
    out = tmp_path / "mix"
    result = runner.invoke(app, ["prepare", "--out", str(out), "-o", "count=5", "--quiet"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "prepared shapes" in result.output
    shown = runner.invoke(app, ["inspect", str(out), "--verify", "--samples", "2"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "eng_Latn" in shown.output and "every file matches the manifest" in shown.output


@pytest.mark.parametrize(
    "args, expected",
    [
        (["prepare", "--source", "nope"], "Valid sources"),
        (["prepare", "--source", "coco"], "missing option 'path'"),
        (["prepare", "-o", "colour=red"], "unknown option 'colour'"),
        (["prepare", "-o", "count"], "KEY=VALUE"),
        (["prepare", "--tasks", "vqa_mc"], "cannot feed"),
        (["prepare", "--image-check", "maybe"], "off, exists, header"),
        (["inspect", "/nonexistent/mix"], "not a finished polymix mix"),
    ],
)
def test_bad_input_is_a_clear_error_with_exit_code_2(tmp_path, args, expected):
    if args[0] == "prepare":
        args = [*args, "--out", str(tmp_path / "mix"), "--quiet"]
    result = runner.invoke(app, args, terminal_width=300)
    assert result.exit_code == 2, result.output
    assert expected in result.output


def test_installed_entry_point_runs():
    exe = [sys.executable, "-m", "polymix.cli"]
    result = subprocess.run([*exe, "langs", "--langs", "de"], capture_output=True, text=True, check=True)
    assert "deu_Latn" in result.stdout


def test_known_startup_noise_is_dropped_and_other_warnings_still_show(caplog):
    import logging
    import warnings

    from polymix import quiet

    quiet.install()
    logger = logging.getLogger("bitsandbytes.backends.cpu.ops")
    with caplog.at_level(logging.WARNING, logger="bitsandbytes.backends.cpu.ops"):
        logger.warning("Failed to load CPU gemm_4bit_forward from kernels-community: %s.", "No module named 'kernels'")
        logger.warning("something the user must act on")
    assert [r.getMessage() for r in caplog.records] == ["something the user must act on"]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        quiet._installed = False
        quiet.install()  # after simplefilter reset the filters: install again, as the entry point does
        warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed in v6.", FutureWarning)
        warnings.warn("a FutureWarning polymix did not cause", FutureWarning)
    assert [str(w.message) for w in seen] == ["a FutureWarning polymix did not cause"]


def test_train_lists_its_settings_and_resume_alone_means_the_newest(capsys):
    from polymix.training.cli import _resume_alone, main

    assert main(["settings"]) == 0
    listing = capsys.readouterr().out
    assert "train.memory_budget" in listing and "stages" in listing and "--set KEY=VALUE" in listing
    assert _resume_alone(["--data", "x", "--resume"]) == ["--data", "x", "--resume=auto"]
    assert _resume_alone(["--resume", "--data", "x"]) == ["--resume=auto", "--data", "x"]
    assert _resume_alone(["--resume", "out/ckpt"]) == ["--resume", "out/ckpt"]
    assert main(["--config", "tiny"]) == 2 and "--data is required" in capsys.readouterr().err
