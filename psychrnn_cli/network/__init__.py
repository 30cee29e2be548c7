"""The TensorFlow side: recurrent models, losses and the compiled training step.

Only this package and ``psychrnn_cli.training`` import TensorFlow, and this package imports it
first (see :func:`_import_tensorflow`).
"""

import os
import sys


def _import_tensorflow() -> None:
    """Import TensorFlow with matplotlib hidden, 0.5 to 1 s sooner.

    ``import tensorflow`` loads Keras, whose image-gallery helpers import ``matplotlib.pyplot``
    when matplotlib is installed: about a fifth of the import's CPU time on the reference machine
    (benchmarks/NOTES.md), for functions this package never calls. With matplotlib hidden those
    optional imports fall back to None; afterwards matplotlib imports normally (``psychrnn plot``).
    """
    if "tensorflow" in sys.modules or "matplotlib" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TensorFlow's start-up INFO lines say nothing to users
    sys.modules["matplotlib"] = None  # makes `import matplotlib...` raise ImportError
    try:
        import tensorflow  # noqa: F401
    finally:
        del sys.modules["matplotlib"]


_import_tensorflow()
