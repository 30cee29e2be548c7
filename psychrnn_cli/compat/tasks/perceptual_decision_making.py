"""PsychRNN's earlier name of :mod:`psychrnn_cli.compat.tasks.perceptual_discrimination`, which
some of PsychRNN's tutorial notebooks still import (``PerceptualDecisionMaking``)."""

from psychrnn_cli.compat.tasks.perceptual_discrimination import PerceptualDiscrimination as PerceptualDecisionMaking

__all__ = ["PerceptualDecisionMaking"]
