"""The movement engine: claim, phases, finish; driven by the run_movement task."""
