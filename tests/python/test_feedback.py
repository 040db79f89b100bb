"""Feedback through the official SDK: thumbs up/down on traces, tokens, configs, stats."""

import uuid

import pytest
import requests
from langsmith import traceable
from langsmith.run_helpers import tracing_context
from langsmith.utils import LangSmithError, LangSmithNotFoundError

from conftest import wait_for


def traced_turn(client, project, question="hi"):
    @traceable(run_type="chain", metadata={"assistant_id": "a1"})
    def turn(q):
        return {"answer": q.upper()}

    run_id = uuid.uuid4()
    with tracing_context(client=client, project_name=project, enabled=True):
        turn(question, langsmith_extra={"run_id": run_id})
    client.flush()
    wait_for(lambda: client.read_run(run_id))
    return run_id


def test_feedback_crud_and_listing(client, project):
    run_id = traced_turn(client, project)
    up = client.create_feedback(run_id, key="thumbs", score=1, comment="nice",
                                source_info={"user": "u1"}, correction={"answer": "HI!"})
    client.create_feedback(run_id, key="thumbs", score=0)
    client.create_feedback(run_id, key="accuracy", score=0.75, value="mostly",
                           feedback_source_type="model")
    # Python sends feedback with a trace id inside the multipart batches.
    client.create_feedback(trace_id=run_id, key="via_trace", score=True)
    client.flush()

    all_feedback = wait_for(lambda: (lambda f: f if len(f) == 4 else None)(list(client.list_feedback(run_ids=[run_id]))))
    assert sorted(f.key for f in all_feedback) == ["accuracy", "thumbs", "thumbs", "via_trace"]
    via_trace = next(f for f in all_feedback if f.key == "via_trace")
    assert via_trace.run_id == run_id
    assert via_trace.score == 1
    thumbs = list(client.list_feedback(run_ids=[run_id], feedback_key=["thumbs"]))
    assert sorted(f.score for f in thumbs) == [0, 1]
    models = list(client.list_feedback(run_ids=[run_id], feedback_source_type=["model"]))
    assert [f.key for f in models] == ["accuracy"]
    assert models[0].value == "mostly"

    read = client.read_feedback(up.id)
    assert read.comment == "nice"
    assert read.correction == {"answer": "HI!"}
    assert read.feedback_source.metadata["user"] == "u1"
    client.update_feedback(up.id, score=0.5, comment="changed my mind")
    read = client.read_feedback(up.id)
    assert read.score == 0.5
    assert read.comment == "changed my mind"
    client.delete_feedback(up.id)
    with pytest.raises(LangSmithNotFoundError):
        client.read_feedback(up.id)

    run = client.read_run(run_id)
    assert run.feedback_stats["thumbs"]["n"] == 1
    assert run.feedback_stats["accuracy"]["avg"] == 0.75
    stats = client.read_project(project_name=project, include_stats=True)
    assert stats.feedback_stats["accuracy"]["n"] == 1
    assert stats.feedback_stats["via_trace"]["avg"] == 1


def test_presigned_tokens_without_api_key(client, project):
    run_id = traced_turn(client, project)
    token = client.create_presigned_feedback_token(run_id, "helpful")
    # The URL works with a plain browser-like request, no API key.
    for score in (0.8, 0.9):
        response = requests.post(token.url, json={"score": score, "comment": "from the widget"})
        assert response.status_code == 200
    client.create_feedback_from_token(token.url, score=1.0, comment="via sdk")
    response = requests.get(token.url, params={"score": 0, "comment": "thumbs down link"})
    assert response.status_code == 200
    scores = sorted(f.score for f in client.list_feedback(run_ids=[run_id], feedback_key=["helpful"]))
    assert scores == [0, 0.8, 0.9, 1.0]

    tokens = client.create_presigned_feedback_tokens(run_id, ["clarity", "tone"])
    assert len(tokens) == 2
    assert {t.id for t in tokens}.isdisjoint({token.id})
    listed = list(client.list_presigned_feedback_tokens(run_id))
    assert len(listed) == 3


def test_feedback_configs(client):
    key = f"stars-{uuid.uuid4().hex[:6]}"
    config = {"type": "continuous", "min": 0, "max": 5}
    created = client.create_feedback_config(key, feedback_config=config)
    assert created.feedback_key == key
    assert created.feedback_config["max"] == 5
    assert created.is_lower_score_better is False
    # The same config again is accepted and returns the stored one.
    again = client.create_feedback_config(key, feedback_config=config, is_lower_score_better=True)
    assert again.feedback_key == key
    assert again.is_lower_score_better is False
    with pytest.raises(LangSmithError):
        client.create_feedback_config(key, feedback_config={"type": "freeform"})
    client.update_feedback_config(key, is_lower_score_better=True)
    (listed,) = list(client.list_feedback_configs(feedback_key=[key]))
    assert listed.is_lower_score_better is True
    assert listed.tenant_id is not None
    client.delete_feedback_config(key)
    assert list(client.list_feedback_configs(feedback_key=[key])) == []
