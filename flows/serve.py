"""Register the deployments of ``prefect.yaml`` and execute their runs from this process.

    make server      # in one terminal: the Prefect server (UI on http://127.0.0.1:4200)
    make deploy      # in another: this module; then
    prefect deployment run build-mix/default

``prefect.yaml`` is the one place deployments are declared; this module reads it (so the
parameters of ``build-mix/default`` are the same here, in ``prefect deploy`` and in
``polymix build-mix --deployment default``) and serves them with ``prefect.serve``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def deployments(path: Path = ROOT / "prefect.yaml") -> dict[str, dict[str, Any]]:
    """The deployments of prefect.yaml by name (``default``, ``mblip``, ...)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run from a polymix checkout")
    return {d["name"]: d for d in yaml.safe_load(path.read_text(encoding="utf-8"))["deployments"]}


def deployment_parameters(name: str, path: Path = ROOT / "prefect.yaml") -> dict[str, Any]:
    found = deployments(path)
    if name not in found:
        from polymix.errors import ConfigError

        raise ConfigError(f"unknown deployment {name!r}; prefect.yaml declares: {', '.join(found)}")
    return dict(found[name].get("parameters", {}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=1, help="flow runs executed at once (default 1: builds lock their output)")
    args = parser.parse_args(argv)

    from prefect import serve
    from prefect.flows import load_flow_from_entrypoint

    runnable = []
    for name, spec in deployments().items():
        flow = load_flow_from_entrypoint(str(ROOT / spec["entrypoint"]))
        runnable.append(flow.to_deployment(name=name, parameters=spec.get("parameters", {}), description=spec.get("description")))
    serve(*runnable, limit=args.limit)


if __name__ == "__main__":
    main()
