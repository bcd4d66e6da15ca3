"""Prefect flows: thin orchestration over the stages (build-mix, translate)."""
