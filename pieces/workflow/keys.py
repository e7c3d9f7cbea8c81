"""The workflow format's vocabulary: which keys exist where, and what legato says about
the ones TAKT v0.60 removed or legato does not run.

TAKT is strict at the workflow level and in rules (an unknown key is an error) and
lenient inside a step (unknown keys are dropped); legato follows it and warns about an
unknown step key instead of dropping it silently.
"""

from __future__ import annotations

WORKFLOW_KEYS = frozenset(
    {
        "name",
        "description",
        "subworkflow",
        "workflow_config",
        "capabilities",
        "mcp_servers",
        "auto_routing",
        "rate_limit_fallback",
        "permission_mode",
        "schemas",
        "personas",
        "policies",
        "knowledge",
        "instructions",
        "report_formats",
        "all_steps",
        "facet_pools",
        "steps",
        "initial_step",
        "max_steps",
        "loop_monitors",
        "interactive_mode",
    }
)

# TAKT 0.36 renamed these; a workflow file using the old word gets the new one named.
RENAMED = {
    "movements": "steps",
    "max_movements": "max_steps",
    "max_iterations": "max_steps",
    "initial_movement": "initial_step",
    "piece_config": "workflow_config",
}

STEP_KEYS = frozenset(
    {
        "name",
        "description",
        "kind",
        "mode",
        "session_key",
        "session",
        "persona",
        "persona_name",
        "tags",
        "completion_retry",
        "policy",
        "knowledge",
        "allow_git_commit",
        "capabilities",
        "mcp",
        "mcp_servers",
        "promotion",
        "companion",
        "required_permission_mode",
        "edit",
        "requires_user_input",
        "instruction",
        "delay_before_ms",
        "structured_output",
        "system_inputs",
        "effects",
        "rules",
        "output_contracts",
        "quality_gates",
        "pass_previous_response",
        "parallel",
        "concurrency",
        "team_leader",
        "dynamic_facets",
        "call",
        "args",
        "vars",
        "tier",  # legato: the queue this step runs on
        "agent",  # legato: a registered agent configuration
    }
)

RUNTIME_MESSAGE = (
    "workflow YAML no longer accepts provider settings (TAKT moved them to runtime.yaml)"
)
RUNTIME_HINT = (
    "legato picks the model by tier: set `tier:` on the step, or the job's tier; "
    "tool sets come from `capabilities:`"
)
ROUTING_MESSAGE = "workflow YAML no longer accepts provider routing (TAKT moved it to runtime.yaml)"

# Keys a step may not carry at all in v0.60, with what to write instead.
REMOVED_STEP_KEYS = {
    "allowed_tools": ("not accepted in a workflow", "name a capability set: capabilities: edit"),
    "permission_mode": ("not accepted in a workflow", "use required_permission_mode"),
    "instruction_template": ("removed in TAKT v0.60", "use instruction"),
    "overrides": (RUNTIME_MESSAGE, RUNTIME_HINT),
    "provider": (RUNTIME_MESSAGE, RUNTIME_HINT),
    "model": (RUNTIME_MESSAGE, RUNTIME_HINT),
    "provider_options": (RUNTIME_MESSAGE, RUNTIME_HINT),
    "arpeggio": (
        "arpeggio is not supported by legato",
        "no TAKT builtin workflow uses it; split the data into jobs instead",
    ),
}

# What legato accepts but does not act on, and why.
IGNORED_STEP_KEYS = {
    "mcp": "legato gives agents its own tools, not MCP servers",
    "mcp_servers": "legato gives agents its own tools, not MCP servers",
    "promotion": "provider ladders live in TAKT's runtime.yaml; legato runs a step on its tier",
}

WORKFLOW_CALL_FORBIDDEN = (
    "persona",
    "persona_name",
    "tags",
    "completion_retry",
    "policy",
    "knowledge",
    "allow_git_commit",
    "mcp_servers",
    "promotion",
    "companion",
    "required_permission_mode",
    "edit",
    "instruction",
    "session",
    "delay_before_ms",
    "structured_output",
    "system_inputs",
    "effects",
    "parallel",
    "concurrency",
    "team_leader",
    "output_contracts",
    "quality_gates",
    "pass_previous_response",
    "dynamic_facets",
)

SYSTEM_FORBIDDEN = (
    "parallel",
    "team_leader",
    "persona",
    "persona_name",
    "tags",
    "policy",
    "knowledge",
    "allow_git_commit",
    "mcp_servers",
    "required_permission_mode",
    "edit",
    "instruction",
    "structured_output",
    "output_contracts",
    "quality_gates",
)

# A parallel member that runs an agent may not carry these (they belong to top-level steps).
SUBSTEP_FORBIDDEN = (
    "kind",
    "mode",
    "args",
    "vars",
    "promotion",
    "companion",
    "requires_user_input",
    "delay_before_ms",
    "structured_output",
    "system_inputs",
    "effects",
    "parallel",
    "concurrency",
    "team_leader",
)

RULE_KEYS = frozenset(
    {"condition", "next", "return", "appendix", "requires_user_input", "interactive_only"}
)
LOOP_MONITOR_KEYS = frozenset({"cycle", "ignore_steps", "threshold", "judge"})
JUDGE_KEYS = frozenset({"persona", "instruction", "rules", "tier"})
JUDGE_REMOVED = ("provider", "model", "provider_options")
CONTRACT_KEYS = frozenset({"name", "format", "use_judge", "order"})
GATE_KEYS = frozenset({"type", "name", "command", "cwd", "timeout_ms"})
TEAM_LEADER_KEYS = frozenset(
    {
        "persona",
        "max_parts",
        "max_concurrency",
        "initial_max_parts",
        "fail_on_part_error",
        "refill_threshold",
        "timeout_ms",
        "inspect_tools",
        "part_persona",
        "part_tags",
        "part_allowed_tools",
        "part_edit",
        "part_permission_mode",
    }
)
DYNAMIC_PARALLEL_KEYS = frozenset({"fixed", "pool", "selection"})
SELECTION_KEYS = frozenset({"mode", "reports", "selector"})
SELECTOR_KEYS = frozenset({"persona", "instruction"})
DYNAMIC_FACETS_KEYS = frozenset({"pool", "max_selected", "selector"})
COMPLETION_RETRY_KEYS = frozenset({"min_retry", "max_retry", "retry_instruction"})
MAX_COMPLETION_RETRY = 4
SUBWORKFLOW_KEYS = frozenset({"callable", "visibility", "returns", "params"})
PARAM_TYPES = ("facet_ref", "facet_ref[]", "workflow_ref", "facet_pool_ref", "companion_ref[]")
FRAGMENT_PARAM_TYPES = ("facet_ref", "facet_ref[]", "workflow_ref", "facet_pool_ref")
PARAM_KINDS = ("policy", "knowledge", "instruction", "persona", "report_format")
# The facet folder of each parameter kind.
KIND_FOLDER = {
    "policy": "policies",
    "knowledge": "knowledge",
    "instruction": "instructions",
    "persona": "personas",
    "report_format": "output-contracts",
}
FACET_POOL_KEYS = frozenset({"policies", "knowledge", "candidates"})
CANDIDATE_KEYS = frozenset({"id", "description", "policy", "knowledge"})
COMPANION_SELECTION_KEYS = frozenset({"fixed", "pool", "moderator"})
COMPANION_FILE_KEYS = frozenset(
    {"name", "description", "persona", "policy", "knowledge", "instruction", "interval_ms"}
)
COMPANION_DEFAULT_INSTRUCTION = "companion-watch-review"
MAX_COMPANION_INTERVAL_MS = 2_147_483_647
SESSION_MODES = ("continue", "refresh", "compact")
PERMISSION_MODES = ("readonly", "edit", "full")
STEP_KINDS = ("agent", "system", "workflow_call")
INTERACTIVE_MODES = ("assistant", "grill-me", "persona", "quiet", "passthrough")
# Capability files may only grant these (TAKT's capability leaves).
CAPABILITY_LEAVES = frozenset({"allowed_tools", "network_access", "sandbox", "skills"})

# kind: system — what a step may read (`system_inputs`) and do (`effects`), by type:
# (source it must name, further keys it may carry).
SYSTEM_INPUTS = {
    "task_context": ("current_task", frozenset()),
    "branch_context": ("current_task", frozenset()),
    "pr_context": ("current_branch", frozenset()),
    "issue_context": ("current_task", frozenset()),
    "task_queue_context": ("current_project", frozenset({"exclude_current_task"})),
    "pr_list": ("current_project", frozenset({"where"})),
    "issue_list": ("current_project", frozenset({"exclude_selected_from"})),
    "pr_selection": ("current_project", frozenset({"where"})),
    "issue_selection": ("current_project", frozenset()),
}
PR_WHERE_KEYS = frozenset(
    {
        "author",
        "base_branch",
        "head_branch",
        "managed_by_takt",
        "labels",
        "same_repository",
        "draft",
    }
)
# effect type -> (required keys, optional keys)
EFFECTS = {
    "enqueue_task": (
        frozenset({"mode", "workflow", "task"}),
        frozenset({"pr", "issue_number", "issue", "base_branch", "worktree"}),
    ),
    "comment_pr": (frozenset({"pr", "body"}), frozenset()),
    "sync_with_root": (frozenset({"pr"}), frozenset()),
    "resolve_conflicts_with_ai": (frozenset({"pr"}), frozenset()),
    "merge_pr": (frozenset({"pr"}), frozenset()),
    "close_pr": (frozenset({"pr"}), frozenset()),
}
