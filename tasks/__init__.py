"""Built-in tasks, one class per module, NumPy only.

``BUILTIN_TASKS`` maps a task's config name (``task=<name>``) to its class path.
"""

from __future__ import annotations

BUILTIN_TASKS: dict[str, str] = {
    "perceptual_discrimination": "psychrnn_cli.tasks.perceptual_discrimination.PerceptualDiscrimination",
    "delayed_discrimination": "psychrnn_cli.tasks.delayed_discrimination.DelayedDiscrimination",
    "match_to_category": "psychrnn_cli.tasks.match_to_category.MatchToCategory",
    "context_dependent_integration": "psychrnn_cli.tasks.context_dependent_integration.ContextDependentIntegration",
    "ready_set_go": "psychrnn_cli.tasks.ready_set_go.ReadySetGo",
    "anti_saccade": "psychrnn_cli.tasks.anti_saccade.AntiSaccade",
    "block_prior": "psychrnn_cli.tasks.block_prior.BlockPrior",
}
