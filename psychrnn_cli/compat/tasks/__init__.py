"""PsychRNN's ``psychrnn.tasks``: the task base class and PsychRNN's three built-in tasks, with
PsychRNN's trial-parameter names."""
