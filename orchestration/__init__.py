"""Orchestrator integrations of livello-sync (optional: `pip install 'livello-sync[dagster]'`).

`orchestration.dagster_defs` is a Dagster code location: `dagster dev -m orchestration.dagster_defs`. Cron and
systemd recipes, which need no orchestrator, live in `deploy/`."""
