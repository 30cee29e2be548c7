"""The TensorFlow side: the engine that runs model kinds, losses and the compiled training step.

Only this package imports TensorFlow (see :func:`_import_tensorflow`). Importing it changes no
TensorFlow setting; :func:`start` does, where training starts.
"""

import contextlib
import os
import re
import sys
import tempfile
from typing import Iterator

# TensorFlow's native start-up notices: the CUDA probe of the `tensorflow` wheel on a machine
# without a GPU, CPU instruction sets, oneDNN. Written by C++ before TF_CPP_MIN_LOG_LEVEL applies.
NOTICES = re.compile(r"All log messages before absl::InitializeLog|cudart_stub\.cc|failed call to cuInit|"
                     r"cpu_feature_guard\.cc|rebuild TensorFlow with the appropriate compiler flags|"
                     r"oneDNN custom operations are on|Unable to register cu(DNN|FFT|BLAS) factory|"
                     r"computation placer already registered|TF-TRT Warning")


@contextlib.contextmanager
def _notices_held_back() -> Iterator[None]:
    """Collect what is written to file descriptor 2 while the block runs, then pass on every line
    except TensorFlow's start-up :data:`NOTICES` (real warnings and errors still show)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().decode(errors="replace").splitlines(keepends=True)
                    if not NOTICES.search(line)]
            sys.stderr.write("".join(kept))


def _import_tensorflow() -> None:
    """Import TensorFlow without its start-up notices, and with matplotlib hidden, 0.5 to 1 s sooner.

    ``import tensorflow`` loads Keras, whose image-gallery helpers import ``matplotlib.pyplot``
    when matplotlib is installed: about a fifth of the import's CPU time on the reference machine
    (benchmarks/NOTES.md), for functions this package never calls. With matplotlib hidden those
    optional imports fall back to None; afterwards matplotlib imports normally (``psychrnn plot``).
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TensorFlow's start-up INFO lines say nothing to users
    hide = "matplotlib" not in sys.modules
    with _notices_held_back():
        if hide:
            sys.modules["matplotlib"] = None  # makes `import matplotlib...` raise ImportError
        try:
            import tensorflow  # noqa: F401
        finally:
            if hide:
                del sys.modules["matplotlib"]


class DeviceError(ValueError):
    """``train.device=gpu`` on a machine where TensorFlow sees no GPU."""


def start(seed: int, device: str = "auto") -> None:
    """Prepare TensorFlow for a training run: one thread per operation, the device, global seed ``seed``.

    ``device`` is ``auto`` (TensorFlow's choice: a GPU when it sees one), ``cpu`` (GPUs hidden)
    or ``gpu``, which raises :class:`DeviceError` when TensorFlow sees none.
    """
    import tensorflow as tf

    _one_thread_per_op()
    with _notices_held_back():
        gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        cuda = "built with CUDA" if tf.test.is_built_with_cuda() else "built without CUDA"
        raise DeviceError(f"train.device=gpu, but TensorFlow ({tf.__version__}, {cuda}) sees no GPU on this machine: "
                          "use train.device=auto or cpu, or install the CUDA build with pip install "
                          "'psychrnn-cli[gpu]' on a machine with an NVIDIA GPU")
    if device == "cpu":
        with contextlib.suppress(RuntimeError):  # (raised once TensorFlow has started)
            tf.config.set_visible_devices([], "GPU")
    with _notices_held_back():  # the runtime starts here (the CUDA probe's notices)
        tf.config.list_logical_devices()
    tf.random.set_seed(seed)


def runtime_info() -> dict[str, str | int]:
    """TensorFlow's version, the devices it computes on and its threads per operation, for the run
    file's provenance."""
    import tensorflow as tf

    return {
        "tensorflow_version": tf.__version__,
        "devices": ", ".join(device.name for device in tf.config.list_logical_devices()),  # e.g. /device:CPU:0
        # threads per TensorFlow operation (0: TensorFlow's default, all cores); the last bits of results depend on it
        "tf_intra_op_threads": int(os.environ.get("TF_NUM_INTRAOP_THREADS",
                                                  tf.config.threading.get_intra_op_parallelism_threads())),
    }


def _one_thread_per_op() -> None:
    """Run each TensorFlow operation on one thread, unless ``TF_NUM_INTRAOP_THREADS`` says otherwise.

    A recurrent network's step is a chain of small operations; TensorFlow's default splits each
    one across all cores, which costs more than it gains at the sizes labs train (N_rec 50: about
    10% slower per iteration on 2 cores, N_rec 256: about 15%; benchmarks/NOTES.md), while
    independent operations (the weight gradients beside the chain through time, the members of an
    ensemble) still run in parallel. It also makes results independent of the machine's core
    count. The run file records the setting (``tf_intra_op_threads``; 0 is TensorFlow's default).
    Has no effect once TensorFlow has run an operation in this process.
    """
    if "TF_NUM_INTRAOP_THREADS" in os.environ:
        return
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):  # (raised once TensorFlow has started)
        tf.config.threading.set_intra_op_parallelism_threads(1)


_import_tensorflow()
