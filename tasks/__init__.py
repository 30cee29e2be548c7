"""Built-in tasks, one class per module, NumPy only.

``BUILTIN_TASKS`` maps a task's config name (``task=<name>``) to its class path.
"""

from __future__ import annotations

BUILTIN_TASKS: dict[str, str] = {
    "perceptual_discrimination": "psychrnn_cli.tasks.perceptual_discrimination.PerceptualDiscrimination",
    "delayed_discrimination": "psychrnn_cli.tasks.delayed_discrimination.DelayedDiscrimination",
    "match_to_category": "psychrnn_cli.tasks.match_to_category.MatchToCategory",
}
