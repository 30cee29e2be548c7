"""PsychRNN's Python API on the psychrnn-cli engine.

Scripts and notebooks written for PsychRNN 1.0 (Ehrlich, Stone et al. 2021, eNeuro) run with one
change: ``psychrnn.`` becomes ``psychrnn_cli.compat.`` in their import lines. The module paths
mirror PsychRNN's (``backend.models.basic.Basic``, ``backend.simulation.BasicSimulator``,
``backend.curriculum.Curriculum``, ``tasks.perceptual_discrimination.PerceptualDiscrimination``,
...). Underneath, training runs the compiled step and outer loop of :mod:`psychrnn_cli.training`,
simulation runs :mod:`psychrnn_cli.simulator`, and weight files are PsychRNN's ``.npz`` format
(:mod:`psychrnn_cli.interop`). Where PsychRNN had a known bug the adapters do the right thing;
the differences are listed in docs/guides/psychrnn-compat.md.
"""
