"""Command groups beyond the core, one module per area (agents, swarm, ...).

Each module registers itself on `app.cli.main.cli`; main imports them all.
"""
