"""The training run as data: the request's dict round trip, the stage sequence, and the
evaluation that make evaluate reports being the one that writes metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from landshift.core.errors import InputError
from landshift.regions.registry import get_region
from landshift.run.training import TRAINING_RUN, TrainingRequest, request_defaults

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_request_round_trips_through_a_small_json_dict():
    request = TrainingRequest("/lake", get_region("nd-pothole"), (2009,), spec_overrides={"input_size": 96}, seed=3)
    raw = json.loads(json.dumps(request.to_dict()))
    assert raw["region"] == "nd-pothole" and raw["label_years"] == [2009]
    again = TrainingRequest.from_dict(raw)
    assert again == request and again.key == request.key


def test_request_defaults_live_in_the_dataclass_and_forms_take_them():
    defaults = request_defaults()
    assert defaults["label_years"] == (2009, 2012, 2014) and defaults["seed"] == 42
    params = {"region": "nd-pothole", "label_years": [2014], "input_size": 0, "composite": "", "labels_uri": None}
    request = TrainingRequest.from_params(params, "/lake")
    assert request.spec_overrides == {} and request.label_years == (2014,) and request.seed == 42
    dag_source = (REPO_ROOT / "dags" / "landshift_train.py").read_text()
    assert "request_defaults()" in dag_source and "Param(42" not in dag_source


def test_request_refuses_unknown_fields_and_spec_overrides():
    with pytest.raises(InputError, match="unknown training request fields"):
        TrainingRequest.from_dict({"lake_root": "/lake", "region": "nd-pothole", "epochs": 3})
    with pytest.raises(InputError, match="unknown model spec overrides"):
        TrainingRequest("/lake", get_region("nd-pothole"), spec_overrides={"weights_uri": "/elsewhere.h5"})


def test_the_training_stages_come_from_the_library_pipeline():
    stages = TRAINING_RUN.stages
    assert [stage.name for stage in stages] == ["prepare_training", "extract_features", "train_and_register"]
    assert [stage.spark_job for stage in stages] == ["", "extract_features", ""]
    assert stages[1].run is not None  # also runs in-process, for the evaluation's cached embeddings
    dag_source = (REPO_ROOT / "dags" / "landshift_train.py").read_text()
    assert 'pipeline_graph("training"' in dag_source
    assert not any(f'"{stage.name}"' in dag_source for stage in stages)
    with pytest.raises(KeyError, match="no stage 'fit'"):
        TRAINING_RUN.stage("fit")


def test_jobs_do_not_edit_the_import_path():
    for job in (REPO_ROOT / "jobs").glob("*.py"):
        assert "sys.path" not in job.read_text(), job.name


@pytest.mark.slow
@pytest.mark.data
def test_the_stage_sequence_registers_exactly_what_the_evaluation_reports(shared_data, tmp_path):
    from landshift.lake.base import LocalLake, read_json
    from landshift.run.demo import seed_lake
    from landshift.run.training import evaluate_and_fit_run, run_training

    lake = LocalLake(str(tmp_path))
    seed_lake(shared_data, lake)
    request = TrainingRequest(lake.root, get_region("nd-pothole"), model_name="stage-test")
    registered = run_training(request)
    stored = read_json(lake, f"{registered['uri']}/metrics.json")
    prepared = run_training(request, until="extract_features")  # the cached embeddings
    _, _, evaluated = evaluate_and_fit_run(request, prepared)
    assert stored == json.loads(json.dumps(evaluated))
    assert [d["train_year"] for d in stored["cross_year"]["directions"]] == [2009, 2012, 2014]
    # Mean of the three one-year-trained directions (0.891 / 0.748 / 0.822 from 2009 / 2012 / 2014):
    # 2012, a drought summer labelled by a second annotator, travels worst.
    assert stored["accuracy"] >= 0.80 and stored["change"]["curve"]
    assert stored["production_choices"]["water_rule_threshold"] in (None, 0.3, 0.4, 0.5, 0.6)
    # The reported metrics describe heads with the registered head's validated settings.
    choices = stored["production_choices"]
    assert (stored["head"]["l2"], stored["head"]["class_weighting"]) == (choices["l2"], choices["class_weighting"])
    assert choices["class_weighting"] is False  # nd-pothole: balanced weights over-call grassland
