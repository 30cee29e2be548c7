"""Traced graphs shared among networks: one trace per model shape, not one per network.

Tracing a training step (building the graph of the loop through time, its gradient and the
optimizer's update, then letting TensorFlow optimize it) costs about a second per network, while
running it costs milliseconds. Networks that differ only in the values of their state (weights,
optimizer slots, noise-generator states, plastic masks: their *seeds*) compute the same graph, so
it is traced once: for the first of them, the *template*. A traced ``ConcreteFunction`` reads every
variable and constant it uses from the outside as a *capture*; calling it with another network's
variables and constants in their place runs that network's step. So the traced step, in effect,
takes the network's state as arguments, whichever the optimizer or model kind.

Which networks may share is decided by a key of everything that changes the graph (see
:func:`describe`); the traces live in a module-level cache for the life of the process, so the
members of an ensemble and the jobs of an in-process sweep (Hydra's basic launcher runs them one
after another) trace each step once. A trace that reads anything besides the declared state cannot
be shared safely and is kept by its owner alone.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import threading
from collections import Counter
from typing import Any, Callable, Sequence

import numpy as np
import tensorflow as tf

TRACES: Counter = Counter()  # traces made in this process, by kind ("train", "predict"); read by tests and benchmarks
_CACHE: dict[tuple, SharedFunction] = {}
_LOCK = threading.Lock()


class SharedFunction:
    """A traced function that runs for any owner of the same shape, given that owner's state.

    Args:
        concrete: the function traced for the template.
        template: the object that traced it, kept alive with the trace (what the cache key
            describes by identity stays in use, so no other object can take its identity).
        template_state: every variable and constant the template's trace may read, in a fixed
            order; an owner's :func:`handles` list holds its own in the same order.

    Raises:
        LookupError: the trace reads something that is not in ``template_state``.
    """

    def __init__(self, concrete: Any, template: Any, template_state: Sequence[Any]) -> None:
        index = {id(handle): i for i, handle in enumerate(handles(template_state))}
        missing = [c for c in concrete.captured_inputs if id(c) not in index]
        if missing:
            raise LookupError(f"the trace reads {len(missing)} tensors that are not part of the network's state")
        self.concrete, self.template = concrete, template
        self.positions = [index[id(c)] for c in concrete.captured_inputs]

    def __call__(self, state: Sequence[Any], arguments: Sequence[tf.Tensor]) -> Any:
        """The traced function on ``arguments``, reading and updating the owner's ``state``
        (:func:`handles` of it, in the template's order). Works eagerly and inside another
        ``tf.function`` alike (there, one call of the shared function per owner)."""
        return self.concrete._call_flat(list(arguments), [state[i] for i in self.positions])


def handles(state: Sequence[Any]) -> list[tf.Tensor]:
    """What a trace captures of each state object: a variable's resource handle, a tensor itself."""
    return [obj.handle if hasattr(obj, "handle") else obj for obj in state]


def shared(key: tuple, trace: Callable[[], Any], template: Any, state: Sequence[Any], kind: str) -> SharedFunction | Any:
    """The function traced for ``key``: from the cache, or traced now by ``trace()`` (returning a
    ``ConcreteFunction`` that reads the owner's ``state``) for the owner ``template`` and cached for
    the next owner.

    Returns a :class:`SharedFunction`, or the owner's own ``ConcreteFunction`` when its trace reads
    something besides ``state`` (then nothing is cached).
    """
    with _LOCK:  # (an ensemble member finishing in a background thread may trace beside the others)
        if key in _CACHE:
            return _CACHE[key]
        concrete = trace()
        TRACES[kind] += 1
        try:
            function = SharedFunction(concrete, template, state)
        except LookupError:
            return concrete
        _CACHE[key] = function
        return function


def describe(obj: Any) -> Any:
    """A hashable description of an object that sets what a trace computes.

    Plain values describe themselves; NumPy arrays by shape, dtype and a digest of their bytes;
    ``functools.partial`` by its function and arguments; a dataclass instance by its class and
    fields; dicts, lists and tuples item by item; anything else (a function, a class, an object
    with state) by its identity, which is unique while the cached trace keeps a reference to it.
    (Not by a function's import path: a function redefined under the same name, as in a notebook,
    would find the trace of the old one.)
    """
    if obj is None or isinstance(obj, (bool, int, float, str, bytes)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return ("array", obj.shape, str(obj.dtype), hashlib.sha1(np.ascontiguousarray(obj).tobytes()).hexdigest())
    if isinstance(obj, dict):
        return ("dict", tuple(sorted((str(k), describe(v)) for k, v in obj.items())))
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, tuple(describe(v) for v in obj))
    if isinstance(obj, functools.partial):
        return ("partial", describe(obj.func), describe(obj.args), describe(obj.keywords))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return ("dataclass", describe(type(obj)), describe({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}))
    return ("object", id(obj))
