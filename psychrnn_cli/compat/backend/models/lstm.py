"""PsychRNN's ``LSTM``, run as the engine's standard LSTM (:mod:`psychrnn_cli.models.lstm`).

PsychRNN 1.0's LSTM read out ``sigmoid(c)`` instead of ``tanh(c)``, kept one trainable initial
state per batch slot and could not reload its gate weights; this one is the standard cell with one
initial state, and :meth:`~psychrnn_cli.compat.backend.rnn.RNN.save` /
``load_weights_path`` round-trip all its parameters (in the engine's layout: gate blocks stacked
in ``W_in``, ``W_rec`` and ``b_rec``).
"""

from psychrnn_cli.compat.backend.rnn import RNN
from psychrnn_cli.models.lstm import LSTM as LSTMDefinition


class LSTM(RNN):
    """PsychRNN's LSTM; see :class:`psychrnn_cli.compat.backend.rnn.RNN` for ``params``. The
    cell's nonlinearity is tanh whatever ``transfer_function`` says (as PsychRNN's ignored it); Dale's principle is not supported."""

    definition_class = LSTMDefinition

    def __init__(self, params: dict) -> None:
        super().__init__({**params, "transfer_function": "tanh"})
