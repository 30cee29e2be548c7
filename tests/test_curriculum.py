"""Curriculum learning: stages advance exactly when their metric passes (README, "Curriculum learning")."""

from __future__ import annotations

import numpy as np
import pytest

from psychrnn_cli import compose_config, load_run, train
from psychrnn_cli.build import ConfigError, build
from psychrnn_cli.curriculum import Curriculum, CurriculumError, Stage
from psychrnn_cli.tasks.perceptual_discrimination import PerceptualDiscrimination
from tests.conftest import FAST


def pd(**kwargs):
    return PerceptualDiscrimination(N_batch=20, seed=0, **kwargs)


def perfect(task):
    """A stand-in network that outputs the target of each trial it is given."""
    def predict(x):
        # recover the trial's direction from the stimulus (noise-free inputs in these tests)
        direction = np.argmax(x.sum(axis=1), axis=1)
        outputs = np.zeros(x.shape[:2] + (2,))
        outputs[np.arange(len(x)), :, direction] = 1.0
        return outputs, None
    return predict


def test_accuracy_metric_advances_only_when_it_passes():
    stages = [Stage(pd(coherence=0.7, stim_noise=0.0), 0.9), Stage(pd(coherence=0.1, stim_noise=0.0), 0.9)]
    curriculum = Curriculum(stages, metric_every=10)
    silent = lambda x: (np.zeros(x.shape[:2] + (2,)), None)  # noqa: E731  always chooses channel 0: ~50%
    value = curriculum.measure(silent, [], 10)
    assert value < 0.9 and curriculum.index == 0
    value = curriculum.measure(perfect(stages[0].task), [], 20)
    assert value == 1.0 and curriculum.index == 1 and curriculum.start_iterations == [0, 20]
    curriculum.measure(perfect(stages[1].task), [], 30)
    assert curriculum.finished and curriculum.index == 1
    assert [c[:2] for c in curriculum.checks] == [(10, 0), (20, 0), (30, 1)]


def test_loss_and_iteration_metrics():
    curriculum = Curriculum([Stage(pd(), 0.05, "loss"), Stage(pd(), 25, "iterations"), Stage(pd(), 1.0)],
                            metric_every=5)
    curriculum.measure(None, [0.1, 0.08], 5)
    assert curriculum.index == 0
    curriculum.measure(None, [0.04, 0.03], 10)
    assert curriculum.index == 1 and curriculum.start_iterations[1] == 10
    curriculum.measure(None, [], 30)
    assert curriculum.index == 1  # 20 iterations in the stage < 25
    curriculum.measure(None, [], 35)
    assert curriculum.index == 2 and curriculum.start_iterations[2] == 35


@pytest.mark.parametrize("stage_kwargs,field", [({"dt": 20}, "dt"), ({"tau": 50}, "tau")])
def test_mismatched_stages_are_rejected(stage_kwargs, field):
    with pytest.raises(CurriculumError, match=f"stage 1 has {field}=.* but stage 0 has {field}="):
        Curriculum([Stage(pd()), Stage(pd(**stage_kwargs))])


def test_mismatched_stage_configs_name_the_stage_and_field():
    cfg = compose_config(["task=match_to_category", "curriculum=coherence_ramp",
                          "curriculum.stages=[{task:{N_in:16}},{task:{N_in:8}}]"])
    with pytest.raises(ConfigError, match="stage 1 has N_in=8 but stage 0 has N_in=16"):
        build(cfg)
    with pytest.raises(ConfigError, match="unknown keys \\['treshold'\\]"):
        build(compose_config(["curriculum=coherence_ramp", "curriculum.stages=[{task:{coherence:0.5},treshold:0.8}]"]))
    with pytest.raises(ConfigError, match="unknown metric 'accuracyy'"):
        build(compose_config(["curriculum=coherence_ramp", "curriculum.stages=[{metric:accuracyy}]"]))


def test_stages_can_be_edited_from_the_command_line():
    cfg = compose_config(["curriculum=coherence_ramp", "curriculum.stages.0.threshold=0.75"])
    exp = build(cfg)
    assert exp.curriculum.stages[0].threshold == 0.75 and exp.curriculum.stages[1].threshold == 0.9
    assert [s.task.coherences.tolist() for s in exp.curriculum.stages] == [[0.7], [0.5], [0.3], [0.1]]


def advance_at_30(stage, outputs, targets, mask, losses, iteration):
    """A custom metric: passes at iteration 30 or later; its value is the iteration."""
    assert outputs.shape == targets.shape == mask.shape and len(losses) == 10
    return iteration >= 30, float(iteration)


def test_custom_metric_run_file_records_transitions_and_stops_after_last(tmp_path):
    run = load_run(train([*FAST, "task.T=500", "curriculum=coherence_ramp", "train.iterations=200",
                          "train.eval_every=10", "train.stop_accuracy=null", "curriculum.after_last=stop",
                          "curriculum.stages=[{task:{coherence:0.7},metric:tests.test_curriculum.advance_at_30},"
                          "{task:{coherence:0.1},metric:iterations,threshold:20}]"], run_dir=tmp_path))
    record = run["curriculum"]
    np.testing.assert_array_equal(record["start_iteration"], [0, 30])
    np.testing.assert_array_equal(record["check_iteration"], [10, 20, 30, 40, 50])
    np.testing.assert_array_equal(record["check_stage"], [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(record["check_value"], [10, 20, 30, 10, 20])
    assert record["stage_0"]["attrs"]["metric"] == "tests.test_curriculum.advance_at_30"
    assert "coherence: 0.7" in record["stage_0"]["attrs"]["task"]
    assert record["attrs"]["finished"]
    assert run["attrs"]["iterations"] == 50 and "curriculum finished" in run["attrs"]["message"]
    np.testing.assert_array_equal(run["training"]["stage"], [0, 0, 0, 1, 1])
