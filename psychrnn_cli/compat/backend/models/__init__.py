"""PsychRNN's ``psychrnn.backend.models``: :class:`basic.Basic`, :class:`basic.BasicScan`, :class:`lstm.LSTM`."""
