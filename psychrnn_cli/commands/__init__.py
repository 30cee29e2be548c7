"""Sub-commands of ``psychrnn``: one module each, found by :func:`psychrnn_cli.cli.commands`.

A command module defines ``SUMMARY`` (one line for ``psychrnn --help``) and
``main(argv: list[str]) -> int``. It must import nothing heavy at module level (TensorFlow,
matplotlib): ``psychrnn --help`` imports every command module.
"""
