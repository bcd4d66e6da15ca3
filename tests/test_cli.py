import subprocess
import sys

import pytest
from typer.testing import CliRunner

from polymix.mix.cli import app

runner = CliRunner()
COMMANDS = ["langs", "sources", "templates", "prepare", "inspect", "translate", "build-mix", "lid-check", "lid-calibrate", "card", "train"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "usage" in result.output.lower()  # train hands its arguments to its own argparse parser


def test_top_level_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and all(c in result.output for c in COMMANDS)


def test_langs_prints_the_registry_and_rejects_unknown_codes():
    result = runner.invoke(app, ["langs"], terminal_width=200)
    assert result.exit_code == 0
    assert "96 languages" in result.output and "zho_Hans" in result.output and "yor_Latn" in result.output
    bad = runner.invoke(app, ["langs", "--langs", "de,xx"])
    assert bad.exit_code == 2 and "'xx'" in bad.output and "deu_Latn" in bad.output


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
    exe = [sys.executable, "-m", "polymix.mix.cli"]
    result = subprocess.run([*exe, "langs", "--langs", "de"], capture_output=True, text=True, check=True)
    assert "deu_Latn" in result.stdout
