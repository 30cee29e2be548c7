"""Every config option composes and builds; user-defined models, initializers, losses and
regularizers plug in; constraints survive a reload."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from psychrnn_cli import compose_config, load_run, train
from psychrnn_cli.build import ConfigError, build
from psychrnn_cli.initializers import gaussian_spectral_radius
from tests.conftest import FAST, REPO

CONFIGS = REPO / "configs"
QUICK = [*FAST, "task.T=500", "train.iterations=20", "train.eval_every=10", "train.stop_accuracy=null"]
NEEDS_A_VALUE = {("constraints", "from_file"), ("initializer", "from_file"), ("initializer", "custom")}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [
    (group, option)
    for group in ("model", "constraints", "initializer", "loss", "regularizer", "optimizer", "schedule")
    for option in options(group) if (group, option) not in NEEDS_A_VALUE
])
def test_every_option_composes_and_builds(group, option):
    overrides = [f"{group}={option}"]
    if group == "model" and option != "basic":
        overrides.append("constraints.dale_ratio=null")
    exp = build(compose_config(overrides))
    assert exp.model.N_rec == 50


def test_options_combine_as_lists():
    cfg = compose_config(["constraints=[dale,two_regions,no_autapses]", "regularizer=[l2_rate,l1_rec]"])
    assert cfg.constraints.dale_ratio == 0.8 and cfg.constraints.regions.sizes == [25, 25]
    assert cfg.constraints.autapses is False
    assert cfg.regularizer.L2_rate > 0 and cfg.regularizer.L1_rec > 0
    exp = build(cfg)
    assert np.all(np.diag(exp.constraints.rec_mask) == 0) and exp.constraints.signs is not None


@pytest.mark.parametrize("override,message", [
    ("model=lstm", "applies only to model=basic"),
    ("regularizer.custom=no.such.penalty", "regularizer.custom: cannot import 'no.such.penalty'"),
    ("regularizer.L2_rate=-1", "regularizer.L2_rate must be a number >= 0"),
])
def test_bad_catalogue_values(override, message):
    extra = ["constraints=dale"] if override == "model=lstm" else []
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        build(compose_config([*extra, override]))


# --- plug-ins written by a user --------------------------------------------------------------

def marked_init(rng, constraints, N_in, N_out, marker=0.25):
    weights = gaussian_spectral_radius(rng, constraints, N_in, N_out)
    weights["b_out"][:] = marker
    return weights


def absolute_loss(outputs, targets, mask):
    import tensorflow as tf

    return tf.reduce_mean(tf.abs(mask * (outputs - targets)))


def mean_rate(weights, rates, outputs):
    import tensorflow as tf

    return tf.reduce_mean(rates)


def test_custom_initializer_loss_and_regularizer(tmp_path):
    path = train([*QUICK, "initializer=custom", "initializer._target_=tests.test_catalogue.marked_init", "+initializer.marker=0.25",
                  "loss._target_=tests.test_catalogue.absolute_loss", "regularizer.custom=tests.test_catalogue.mean_rate",
                  "regularizer.custom_weight=0.1", "regularizer.L2_rec=0.01", "model.trainable.b_out=false"],
                 run_dir=tmp_path)
    run = load_run(path)
    np.testing.assert_array_equal(run["model"]["weights"]["b_out"], [0.25, 0.25])
    curves = run["training"]
    assert {"custom", "L2_rec", "train_loss"} <= set(curves)
    assert np.all(curves["custom"] > 0) and np.all(curves["L2_rec"] > 0)


def test_constrained_run_reloads_and_keeps_its_constraints(tmp_path):
    constrained = ["constraints=[dale,two_regions]", "constraints.autapses=false", "constraints.fixed_outgoing=0.2"]
    first = load_run(train([*QUICK, *constrained], run_dir=tmp_path / "first"))
    saved = first["model"]["constraints"]
    assert {"input_connectivity", "rec_connectivity", "output_connectivity", "signs", "plastic_W_rec",
            "plastic_W_out"} <= set(saved)
    # continue from the stored weights and masks
    first_file = tmp_path / "first" / "run.h5"
    second = load_run(train([*QUICK, *constrained, f"model.load_weights={first_file}",
                             f"constraints.mask_file={first_file}"], run_dir=tmp_path / "second"))
    same = build(compose_config([*constrained, "initializer=from_file", f"initializer.path={first_file}"]))
    np.testing.assert_array_equal(same.model.numpy_weights()["W_rec"], first["model"]["weights"]["W_rec"])
    eff, cons = second["model"]["effective"], second["model"]["constraints"]
    np.testing.assert_array_equal(cons["rec_connectivity"], saved["rec_connectivity"])
    assert np.all(eff["W_rec"][cons["rec_connectivity"] == 0] == 0)
    assert np.all(eff["W_rec"][:, :40] >= 0) and np.all(eff["W_rec"][:, 40:] <= 0)
    assert np.all(eff["W_out"][:, 40:] == 0)
    fixed = cons["plastic_W_rec"] == 0
    np.testing.assert_array_equal(second["model"]["weights"]["W_rec"][fixed], first["model"]["weights"]["W_rec"][fixed])
    assert not np.array_equal(second["model"]["weights"]["W_rec"], first["model"]["weights"]["W_rec"])


def test_examples_exist_as_documented():
    for example, page in (("examples/pulse_sign.py", "guides/own-task.md"),
                          ("psychrnn_cli/models/adapting.py", "guides/own-model.md")):
        assert Path(REPO / example).exists() and example in (REPO / "docs" / page).read_text()


@pytest.mark.parametrize("experiment", options("experiment"))
@pytest.mark.parametrize("curriculum", options("curriculum"))
def test_experiment_presets_compose_and_build(experiment, curriculum):
    cfg = compose_config([f"+experiment={experiment}", f"curriculum={curriculum}"])
    if curriculum == "coherence_ramp" and "coherence" not in cfg.task:  # a ramp of coherence needs a task that has one
        with pytest.raises(ConfigError, match="curriculum stage 0: "):
            build(cfg)
        return
    assert build(cfg).settings.iterations > 0
