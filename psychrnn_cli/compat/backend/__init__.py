"""PsychRNN's ``psychrnn.backend`` package: models, simulation and curriculum on the new engine."""
