"""Annotation queues through the official SDK: the calls a review workflow makes."""

import uuid

import pytest
from langsmith import utils as ls_utils

from conftest import wait_for
from test_feedback import traced_turn


def test_queue_lifecycle_and_runs(client, project):
    runs = [traced_turn(client, project, question=f"q{i}") for i in range(3)]
    name = f"review-{uuid.uuid4().hex[:8]}"
    queue = client.create_annotation_queue(
        name=name,
        description="thumbs-down turns",
        rubric_instructions="Is the answer correct?",
        rubric_items=[{"feedback_key": "correctness", "description": "right or wrong"}],
    )
    assert queue.name == name
    read = client.read_annotation_queue(queue.id)
    assert read.rubric_instructions == "Is the answer correct?"
    assert [q.id for q in client.list_annotation_queues(name=name)] == [queue.id]
    assert queue.id in [q.id for q in client.list_annotation_queues(name_contains=name[-6:])]
    assert [q.id for q in client.list_annotation_queues(queue_ids=[queue.id])] == [queue.id]

    client.update_annotation_queue(queue.id, name=name, rubric_instructions="Be strict.")
    assert client.read_annotation_queue(queue.id).rubric_instructions == "Be strict."

    client.add_runs_to_annotation_queue(queue.id, run_ids=runs)
    # Adding again does not duplicate.
    client.add_runs_to_annotation_queue(queue.id, run_ids=runs[:1])
    listed = list(client.list_runs_from_annotation_queue(queue.id))
    assert [str(r.id) for r in listed] == [str(r) for r in runs]
    assert all(r.added_at is not None for r in listed)
    assert str(client.get_run_from_annotation_queue(queue.id, index=1).id) == str(runs[1])

    # A reviewer's feedback lands on the run; marking the entry done moves it to "completed".
    client.create_feedback(runs[0], key="correctness", score=0, comment="wrong city")
    item = listed[0]
    queue_run_id = getattr(item, "queue_run_id", None) or client.request_with_retries(
        "GET", f"/annotation-queues/{queue.id}/run/0"
    ).json()["queue_run_id"]
    response = client.request_with_retries(
        "POST", f"/annotation-queues/status/{queue_run_id}", json={"status": "completed"}
    )
    assert response.status_code == 200
    done = list(client.list_runs_from_annotation_queue(queue.id, status="completed"))
    assert [str(r.id) for r in done] == [str(runs[0])]
    waiting = list(client.list_runs_from_annotation_queue(queue.id, status="needs_my_review"))
    assert [str(r.id) for r in waiting] == [str(r) for r in runs[1:]]
    feedback = wait_for(lambda: list(client.list_feedback(run_ids=[runs[0]])))
    assert feedback[0].key == "correctness" and feedback[0].score == 0

    # Remove by run id (what SDK 0.10.5 sends); indices shrink at once.
    client.delete_run_from_annotation_queue(queue.id, run_id=runs[2])
    assert len(list(client.list_runs_from_annotation_queue(queue.id))) == 2
    with pytest.raises(ls_utils.LangSmithNotFoundError):
        client.get_run_from_annotation_queue(queue.id, index=2)

    client.delete_annotation_queue(queue.id)
    assert list(client.list_annotation_queues(name=name)) == []
    with pytest.raises(ls_utils.LangSmithNotFoundError):
        client.read_annotation_queue(queue.id)


def test_queue_bad_input(client, project):
    with pytest.raises(ls_utils.LangSmithError):
        client.create_annotation_queue(name=" ")
    queue = client.create_annotation_queue(name=f"bad-{uuid.uuid4().hex[:8]}")
    # Runs that were never ingested are refused, and nothing is added.
    with pytest.raises(ls_utils.LangSmithNotFoundError):
        client.add_runs_to_annotation_queue(queue.id, run_ids=[uuid.uuid4()])
    assert list(client.list_runs_from_annotation_queue(queue.id)) == []
    with pytest.raises(ls_utils.LangSmithError):
        client.create_annotation_queue(
            name="bad rubric", rubric_items=[{"description": "no key"}]
        )
    client.delete_annotation_queue(queue.id)
