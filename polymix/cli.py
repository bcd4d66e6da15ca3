"""The ``polymix`` command line. ``polymix --help`` lists the commands, ``polymix CMD --help`` explains each.

Configuration errors (bad options, unknown languages/sources, malformed input files) end the
command with exit code 2 and one message that says what is wrong and what is valid.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from polymix.cli_support import informative_types_only
from polymix.settings import comma_list, extra_option, help_of, nest, set_dotted, with_cli_options
from polymix.mix.settings import PrepareSettings
from polymix.translate.settings import TranslateSettings

app = typer.Typer(
    help="polymix: build multilingual vision-language instruction mixes (the mBLIP recipe) and train on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)
informative_types_only()


def _version(value: bool) -> None:
    if value:
        from polymix import __version__

        console.print(f"polymix {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print polymix's version and exit")
    ] = False,
) -> None:
    """polymix: build multilingual vision-language instruction mixes (the mBLIP recipe) and train on them."""


def _friendly(fn):
    """Turn the project's configuration errors into a one-line message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from polymix.cli_support import UNWRITABLE, user_errors
        from polymix.mix.prepare import DuplicateIdError
        from polymix.mix.sources.base import SourceFormatError
        from polymix.templates import TemplateError

        try:
            return fn(*args, **kwargs)
        except (*user_errors(), SourceFormatError, DuplicateIdError, TemplateError) as err:
            err_console.print(f"[bold red]error:[/] {err}", highlight=False)
            raise typer.Exit(2) from None
        except UNWRITABLE as err:  # --out read-only, a file, ...
            err_console.print(
                f"[bold red]error:[/] {err.filename}: {err.strerror}; choose a folder you can write", highlight=False
            )
            raise typer.Exit(2) from None

    return wrapper


@app.command()
@_friendly
def langs(
    languages: Annotated[str, typer.Option("--langs", help="'all' (default) or a comma list of NLLB / ISO 639-1 codes")] = "all",
) -> None:
    """Print the language registry: mBLIP's 95 target languages plus English."""
    from polymix import languages as L

    codes = L.resolve(languages, include_english=True)
    table = Table(title=f"{len(codes)} languages (share: mBLIP's mC4 sampling distribution)")
    for col in ("NLLB", "name", "ISO 639-1", "ISO 639-3", "script", "mC4 %", "langid"):
        table.add_column(col, justify="right" if col == "mC4 %" else "left")
    for code in codes:
        lang = L.get(code)
        table.add_row(
            lang.nllb, lang.name, lang.iso639_1 or "-", lang.iso639_3, lang.script, f"{lang.mc4_share:.4f}", lang.langid or "-"
        )
    console.print(table)


@app.command()
@_friendly
def sources() -> None:
    """List the English sources, the tasks each can feed, and their options."""
    from polymix.mix.sources import option_help, registry

    for name, cls in registry().items():
        console.print(f"[bold]{name}[/]: {cls.description}", highlight=False)
        console.print(f"  tasks: {', '.join(cls.tasks)} (default: {', '.join(cls.default_tasks)})", highlight=False)
        if cls.formats:
            console.print(f"  reads: {cls.formats}", highlight=False)
        for opt, default, text in option_help(cls):
            console.print(f"    {opt}={default}  {text}", highlight=False)


@app.command()
@_friendly
def templates(task: Annotated[Optional[str], typer.Argument(help="show one task only")] = None) -> None:
    """List the instruction templates by task, with their versioned ids."""
    from polymix.templates import registry, templates_for

    tasks = [task] if task else list(registry())
    for t in tasks:
        table = Table(title=t)
        for col in ("id", "instruction", "target"):
            table.add_column(col)
        for tpl in templates_for(t):
            table.add_row(tpl.versioned_id, tpl.instruction, tpl.target)
        console.print(table)


QUIET = extra_option("quiet", bool, False, "--quiet", "-q", help="no progress bar")
PATH = extra_option("path", Optional[str], None, help="shortcut for --option path=PATH (the source's input file)")
OVERWRITE = extra_option("overwrite", bool, False, "--overwrite", help="rebuild this source's chunks instead of resuming")


@app.command()
@_friendly
@with_cli_options(PrepareSettings, PATH, OVERWRITE, QUIET)  # one option per setting, help and default from mix/prepare.py
def prepare(path: Optional[str] = None, overwrite: bool = False, quiet: bool = False, **options) -> None:
    """Turn an English source into templated English examples, written as Parquet shards.

    Re-running with the same settings resumes: finished chunks are skipped.
    """
    from polymix.mix.prepare import prepare as run_prepare

    settings = PrepareSettings(**nest(PrepareSettings, options))
    if path is not None:
        settings.options["path"] = path
    manifest = run_prepare(settings, overwrite=overwrite, progress=not quiet)
    run = manifest["run"]
    console.print(
        f"[green]prepared[/] {settings.source} -> {settings.out}: {manifest['rows']} rows, {manifest['rejected']} rejected "
        f"({run.get('chunks_written', 0)} chunks written, {run.get('chunks_skipped', 0)} already done, {run['seconds']} s)",
        highlight=False,
    )
    _print_rejections(manifest)


@app.command()
@_friendly
@with_cli_options(TranslateSettings, QUIET)  # one option per setting, help and default from translate/settings.py
def translate(quiet: bool = False, **options) -> None:
    """Translate an English mix into target languages with NLLB-200 on CTranslate2.

    Each distinct string is translated once (persistent cache). Killed and run again with the same
    settings, it resumes: finished chunks are skipped. Runtime options left on auto are chosen for the
    device (a GPU: float16, every GPU, 2 replicas and up to 16384-token batches as free memory allows);
    the log prints the choice and why.
    """
    from polymix.translate.model import ModelUnavailableError
    from polymix.translate.stage import get_service, runtime_line, translate_mix

    try:
        settings = TranslateSettings(**nest(TranslateSettings, options))
        input, out = settings.input, settings.out
        console.print(runtime_line(settings, get_service(settings)), highlight=False)
        manifest = translate_mix(settings, progress=not quiet)
        from polymix.data_cards.card import write_card

        write_card(out)
    except (ModelUnavailableError, ValueError) as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False)
        raise typer.Exit(2) from None
    _print_rejections(manifest)
    table = Table(title=f"translated {input} -> {out} with {manifest['mt_model']}")
    for col in ("lang", "rows", "strings translated", "cache hits", "passthrough", "seconds"):
        table.add_column(col, justify="left" if col == "lang" else "right")
    for row in manifest["summary"]:
        table.add_row(
            row["lang"],
            str(row["rows"]),
            str(row["translated"]),
            str(row["hits"]),
            str(row["passthrough"]),
            f"{row['seconds']:.2f}",
        )
    console.print(table)
    run = manifest["run"]
    console.print(
        f"{manifest['rows']} rows in the mix, {manifest['rejected']} rejected; {run.get('chunks_written', 0)} chunks "
        f"written, {run.get('chunks_skipped', 0)} already done, {run['seconds']} s; strings this run: "
        f"{run.get('hits', 0)} from the translation cache, {run.get('translated', 0)} translated by the model; "
        f"data card: {out / 'README.md'}",
        highlight=False,
    )


@app.command("build-mix")
@_friendly
def build_mix(
    deployment: Annotated[
        str, typer.Option(help="take the parameters of this deployment in prefect.yaml (default, mblip)")
    ] = "default",
    out: Annotated[Optional[str], typer.Option(help="output mix folder (the English mix goes beside it, OUT.english)")] = None,
    langs: Annotated[Optional[str], typer.Option(help=help_of(TranslateSettings, "langs"))] = None,
    model: Annotated[Optional[str], typer.Option(help=help_of(TranslateSettings, "model"))] = None,
    task_runner: Annotated[Optional[str], typer.Option(help="threads (default) or dask")] = None,
    scheduler_address: Annotated[
        Optional[str], typer.Option(help="Dask scheduler of an existing cluster (tcp://host:8786); with --task-runner dask")
    ] = None,
    max_workers: Annotated[
        Optional[int], typer.Option(help="threads, or local Dask worker processes, translating chunks at once")
    ] = None,
    set_: Annotated[
        list[str],
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="any flow parameter or translation setting, VALUE "
            "in YAML: --set chunk_size=500 --set decode.beam_size=4 --set 'runtime={device: cpu}' "
            "(translation settings as in `polymix translate --help`, also as translate.KEY)",
        ),
    ] = [],
) -> None:
    """Run the build-mix Prefect flow here, without a server: sources -> templates -> languages -> translation -> shards.

    The same flow and parameters as `prefect deployment run build-mix/DEPLOYMENT`; re-running resumes.
    """
    from polymix.flows.serve import deployment_parameters

    params = deployment_parameters(deployment)  # an unknown name is a ConfigError: one line, exit 2
    overrides = {
        "out": out,
        "translate.langs": langs,
        "translate.model": model,
        "task_runner": task_runner,
        "scheduler_address": scheduler_address,
        "max_workers": max_workers,
    }
    pairs = [(k, v) for k, v in overrides.items() if v is not None] + [_yaml_pair(pair) for pair in set_]
    for key, value in pairs:
        set_dotted(params, _flow_key(key), value)
    from polymix.flows.build_mix import build_mix as flow
    from polymix.flows.ephemeral import guard_temporary_server

    checked = _validated(flow, params)  # a bad value ends here, before Prefect starts a server
    guard_temporary_server()  # a kill -9 of this command must not leave Prefect's temporary server running
    result = flow(**checked)
    console.print(
        f"[green]built[/] {params.get('out')}: {result['rows']} rows in {len(result['rows_per_lang'])} languages, "
        f"{result['rejected']} rejected",
        highlight=False,
    )


def _yaml_pair(pair: str) -> tuple[str, object]:
    import yaml

    from polymix.errors import ConfigError

    key, sep, value = pair.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {pair!r}: expected KEY=VALUE such as chunk_size=500 or decode.beam_size=4")
    return key.strip(), yaml.safe_load(value)


def _flow_key(key: str) -> str:
    """A translation setting (``langs``, ``decode.beam_size``) lives in the flow's ``translate`` parameter."""
    from polymix.translate.settings import TranslateOptions

    settings = {f.name for f in dataclasses.fields(TranslateOptions)}
    return f"translate.{key}" if key.split(".")[0] in settings else key


def _validated(flow, params: dict) -> dict:
    """The flow's parameters checked (types, every translation setting) before Prefect starts a run,
    so that a bad value ends in one line naming it instead of a failed run."""
    from prefect.exceptions import ParameterTypeError

    from polymix.errors import ConfigError

    unknown = sorted(set(params) - set(flow.parameters.properties))
    if unknown:
        raise ConfigError(
            f"unknown build-mix parameter(s) {', '.join(unknown)}; valid: {', '.join(flow.parameters.properties)} "
            "and the translation settings of `polymix translate --help`"
        )
    try:
        return flow.validate_parameters(params)
    except ParameterTypeError as err:  # "Flow run received invalid parameters:\n - translate.x: Value error, ..."
        problems = str(err).split("\n - ")[1:] or [str(err)]
        raise ConfigError("bad build-mix parameters: " + "; ".join(p.replace("Value error, ", "") for p in problems)) from None


@app.command("lid-check")
@_friendly
def lid_check(
    input: Annotated[Path, typer.Option("--input", help="JSONL or Parquet file to check")],
    output: Annotated[
        Path, typer.Option("--output", help="every input row plus lid_label, lid_score, keep, reason (.jsonl or .parquet)")
    ],
    text_field: Annotated[str, typer.Option(help="field with the text to check")] = "text",
    lang_field: Annotated[str, typer.Option(help="field with the NLLB code the text should be in")] = "lang",
    source_field: Annotated[
        Optional[str], typer.Option(help="field with the English source: adds the untranslated and length-ratio checks")
    ] = None,
    settings: Annotated[
        Optional[Path], typer.Option(help="language-ID settings YAML (default: the calibrated translate/lid/settings.yaml)")
    ] = None,
    processes: Annotated[int, typer.Option(help="language-ID worker processes")] = 2,
) -> None:
    """Check that every row of a file is in its language (and not empty, repeated, untranslated);
    print keep rates per language."""
    from polymix.translate.lid.check import lid_check as run_check
    from polymix.translate.lid.settings import LidSettings

    result = run_check(
        input, output, text_field, lang_field, source_field, LidSettings.load(settings) if settings else None, processes
    )
    table = Table(title=f"lid-check {input} -> {output}")
    for col in ("lang", "rows", "kept", "keep rate", "rejected by reason"):
        table.add_column(col, justify="left" if col in ("lang", "rejected by reason") else "right")
    for row in result["per_lang"]:
        reasons = ", ".join(f"{k}={v}" for k, v in row["reasons"].items())
        table.add_row(row["lang"], str(row["rows"]), str(row["kept"]), f"{row['keep_rate']:.1%}", reasons)
    console.print(table)
    console.print(f"{result['rows']} rows, {result['kept']} kept, {result['seconds']} s", highlight=False)


@app.command("lid-calibrate")
@_friendly
def lid_calibrate(
    dev: Annotated[
        Path, typer.Option(help="JSON lines with lang (NLLB code) and text; article/para align paragraphs with English")
    ] = Path("../shared/data/udhr-lid-dev.jsonl"),
    short_dev: Annotated[
        Optional[list[Path]],
        typer.Option(
            help="short real texts (lang, text, split = calib|heldout), repeatable: thresholds are chosen on each "
            "file's calib part (each must keep 0.995), heldout is only reported "
            "(default: data/lid-dev/ud-lid-dev.jsonl, tatoeba-lid-dev.jsonl and captions-lid-dev.jsonl)",
            metavar="PATH",
        ),
    ] = None,
    write: Annotated[
        bool, typer.Option("--write", help="rewrite translate/lid/settings.yaml (the defaults) with the chosen settings")
    ] = False,
    out: Annotated[Optional[Path], typer.Option(help="write the chosen settings to this YAML file instead")] = None,
    processes: Annotated[int, typer.Option(help="language-ID worker processes")] = 2,
    pairs_per_target: Annotated[
        Optional[int], typer.Option(help="sample this many other-language paragraphs per target (default: all)")
    ] = None,
    per_language: Annotated[bool, typer.Option("--per-language", help="also print every language's rates")] = False,
    misses: Annotated[
        bool,
        typer.Option(
            "--misses",
            help="also print every short text (calib and heldout) rejected in its own language, with each detector's top 3",
        ),
    ] = False,
) -> None:
    """Calibrate the language-ID filter on real text; print keep and English / other / same-script /
    confusable-neighbour reject rates per language group, on the calibration and held-out parts."""
    from polymix.translate.lid.calibrate import SHORT_DEVS, calibrate
    from polymix.translate.lid.report import render
    from polymix.translate.lid.settings import SETTINGS_FILE

    report = calibrate(
        dev,
        short_dev or SHORT_DEVS,
        processes=processes,
        pairs_per_target=pairs_per_target,
        write=out or (SETTINGS_FILE if write else None),
    )
    console.print(render(report, per_language=per_language, misses=misses), highlight=False, soft_wrap=True)


@app.command()
@_friendly
def card(
    path: Annotated[Path, typer.Argument(help="a built mix folder")],
    examples: Annotated[int, typer.Option(help="example rows shown per language")] = 3,
) -> None:
    """Write the mix's data card: README.md (Hugging Face dataset card) and rows_per_language.png."""
    from polymix.data_cards.card import write_card

    readme = write_card(path, examples_per_lang=examples)
    console.print(f"[green]wrote[/] {readme} and {readme.parent / 'rows_per_language.png'}", highlight=False)


@app.command()
@_friendly
def publish(
    path: Annotated[Path, typer.Argument(help="a built mix folder (it must verify; its card is written if missing)")],
    repo_id: Annotated[str, typer.Option("--repo-id", help="the Hub dataset repository, 'user/name' (created if missing)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list exactly what would be uploaded; contact nobody")] = False,
    embed_images: Annotated[
        bool,
        typer.Option(
            "--embed-images",
            help="write each image's bytes into its rows (datasets Image "
            "feature) instead of referencing it; see the README for the size this costs",
        ),
    ] = False,
    private: Annotated[bool, typer.Option("--private", help="create the repository as private")] = False,
    revision: Annotated[Optional[str], typer.Option(help="the branch to commit to (default: main)")] = None,
) -> None:
    """Upload a mix with its card to the Hugging Face Hub (Parquet as is; resumable: run again after an interruption)."""
    from polymix.data_cards.publish import describe, publish as run

    result = run(path, repo_id, dry_run=dry_run, embed=embed_images, private=private, revision=revision)
    for line in describe(result, dry_run):
        console.print(line, highlight=False, soft_wrap=True)


cache_app = typer.Typer(
    help="What polymix keeps in its cache folder ($POLYMIX_CACHE, default ~/.cache/polymix): "
    "the translation cache, converted CTranslate2 models, the unpacked language-ID model.",
    no_args_is_help=True,
)
app.add_typer(cache_app, name="cache")
CACHE_KINDS_HELP = "what to clear: translations (the SQLite translation cache), models (converted CTranslate2 models), lid"


def _cache_table(rows: list[dict], title: str) -> Table:
    table = Table(title=title)
    for col in ("kind", "path", "MiB", "strings"):
        table.add_column(col, justify="right" if col in ("MiB", "strings") else "left")
    for row in rows:
        table.add_row(row["kind"], row["path"], f"{row['bytes'] / 2**20:.1f}", str(row.get("strings", "")))
    return table


@cache_app.command("info")
@_friendly
def cache_info() -> None:
    """Show the cache folder, each entry's size, and how many translations are stored."""
    from polymix.translate.cache import info
    from polymix.translate.model import cache_root

    root = cache_root()
    rows = info(root)
    where = "from $POLYMIX_CACHE" if os.environ.get("POLYMIX_CACHE") else "set POLYMIX_CACHE to move it"
    console.print(
        f"cache folder {root} ({where}): {len(rows)} entries, {sum(r['bytes'] for r in rows) / 2**20:.1f} MiB",
        highlight=False,
        soft_wrap=True,
    )
    if rows:
        console.print(_cache_table(rows, ""))


@cache_app.command("clear")
@_friendly
def cache_clear(
    kinds: Annotated[str, typer.Option("--what", help=CACHE_KINDS_HELP + " (comma list)")] = "translations,models,lid",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Delete cache entries (a later run translates or converts again; built mixes are not touched)."""
    from polymix.errors import ConfigError
    from polymix.translate.cache import KINDS, clear, info
    from polymix.translate.model import cache_root

    wanted = list(comma_list(kinds))
    if not wanted or set(wanted) - set(KINDS):
        raise ConfigError(f"--what {kinds!r}: valid kinds are {', '.join(KINDS)} (comma list)")
    root = cache_root()
    doomed = [r for r in info(root) if r["kind"] in wanted]
    if not doomed:
        console.print(f"nothing to clear in {root}", highlight=False)
        return
    if not yes and not typer.confirm(
        f"delete {len(doomed)} entries ({sum(r['bytes'] for r in doomed) / 2**20:.1f} MiB) in {root}?"
    ):
        raise typer.Exit(1)
    removed = clear(root, wanted)
    console.print(
        f"[green]removed[/] {len(removed)} entries ({sum(r['bytes'] for r in removed) / 2**20:.1f} MiB) from {root}",
        highlight=False,
    )


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def train(ctx: typer.Context) -> None:
    """Train the mBLIP-style model on a mix; `polymix train --help` lists every option and setting."""
    from polymix.training.cli import main as train_main

    raise typer.Exit(train_main(ctx.args))


@app.command(
    name="eval",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def eval_(ctx: typer.Context) -> None:
    """Score a model on mBLIP's benchmarks (xm3600, xgqa, maxm, xvnli, marvl) or a mix;
    `polymix eval --help` lists the options."""
    from polymix.training.benchmarks.cli import main as eval_main

    raise typer.Exit(eval_main(ctx.args))


def _print_rejections(manifest: dict) -> None:
    from polymix.stats import Stats

    reasons = {reason: n for reason, n in Stats.parse(manifest["stats"]).rejected.items() if n}
    if reasons:
        console.print("rejected by reason: " + ", ".join(f"{k}={v}" for k, v in sorted(reasons.items())), highlight=False)


@app.command()
@_friendly
def inspect(
    path: Annotated[Path, typer.Argument(help="a mix folder (written by prepare/translate)")],
    samples: Annotated[int, typer.Option(help="how many sample rows to show (spread over the languages)")] = 5,
    lang: Annotated[Optional[str], typer.Option(help="show samples of this language only")] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="check every file in the mix against the chunk records (size, checksum, footer, rows; strays too),"
            " the records against manifest.json, and that no build is unfinished",
        ),
    ] = False,
) -> None:
    """Show rows per language and task, rejections by reason, and a few sample rows."""
    import polars as pl

    from polymix import integrity, languages as L, shards

    if verify:  # first: a damaged file would stop the summary below
        problems = integrity.verify(path)
        for p in problems:
            err_console.print(f"[red]{p}[/]", highlight=False)
        if problems:
            raise typer.Exit(1)
    manifest = shards.load_manifest(path)
    shards.check_readable(path)
    frame = shards.scan(path)
    counts = frame.group_by("lang", "task").len().collect().pivot(on="task", index="lang", values="len").fill_null(0).sort("lang")
    table = Table(title=f"{path}: {manifest['rows']} rows in {len(manifest['chunks'])} chunks, {manifest['rejected']} rejected")
    table.add_column("lang")
    tasks = [c for c in counts.columns if c != "lang"]
    for t in tasks:
        table.add_column(t, justify="right")
    for row in counts.iter_rows(named=True):
        table.add_row(row["lang"], *(str(row[t]) for t in tasks))
    console.print(table)
    _print_rejections(manifest)

    columns = ("lang", "task", "template_id", "instruction", "target")
    if lang:
        rows = frame.filter(pl.col("lang") == L.normalize(lang)).select(columns).head(samples).collect()
    else:  # spread the samples over the languages, one of each first
        rows = (
            frame.select(columns)
            .with_columns(pl.int_range(pl.len()).over("lang").alias("_k"))
            .filter(pl.col("_k") < samples)
            .sort("_k", "lang")
            .head(samples)
            .drop("_k")
            .collect()
        )
    st = Table(title=f"{rows.height} sample rows")
    for col in rows.columns:
        st.add_column(col, overflow="fold")
    for row in rows.iter_rows():
        st.add_row(*(str(v) for v in row))
    console.print(st)
    if verify:
        console.print("[green]every file matches the manifest[/]")


def main() -> None:
    from polymix import quiet

    quiet.install()
    app()


if __name__ == "__main__":
    sys.exit(main())
