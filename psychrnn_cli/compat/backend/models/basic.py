"""PsychRNN's ``Basic`` and ``BasicScan``: the leaky rate network (:mod:`psychrnn_cli.models.basic`)."""

from psychrnn_cli.compat.backend.rnn import RNN
from psychrnn_cli.models.basic import Basic as BasicDefinition


class Basic(RNN):
    """PsychRNN's basic rate RNN; see :class:`psychrnn_cli.compat.backend.rnn.RNN` for ``params``."""

    definition_class = BasicDefinition


class BasicScan(Basic):
    """PsychRNN's ``tf.scan`` variant of :class:`Basic`: the same network (one engine runs both)."""
