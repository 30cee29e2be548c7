"""The TensorFlow side: recurrent models, losses and the compiled training step.

Only this package and ``psychrnn_cli.training`` import TensorFlow.
"""
