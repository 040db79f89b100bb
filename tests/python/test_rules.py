"""Run rules with the official SDK as the app: traced turns and users' feedback become examples
of the right assistant's dataset, or entries of a review queue, by themselves. The SDK has no
rule methods, so rules are created over raw HTTP through the client's own session."""

import uuid

from langsmith import traceable, tracing_context

from conftest import wait_for


def turn(client, project, assistant, question):
    @traceable(run_type="chain", name="turn", metadata={"assistant_id": assistant})
    def answer(q):
        return {"answer": f"{assistant} says {q}"}

    run_id = uuid.uuid4()
    with tracing_context(client=client, project_name=project, enabled=True):
        answer(question, langsmith_extra={"run_id": run_id})
    return run_id


def create_rule(client, **body):
    response = client.request_with_retries("POST", "/runs/rules", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def liked_turns_of(assistant):
    return (
        'and(eq(is_root, true), eq(feedback_key, "thumbs"), eq(feedback_score, 1), '
        f'eq(metadata_key, "assistant_id"), eq(metadata_value, "{assistant}"))'
    )


def test_liked_turns_become_that_assistants_examples(client, project):
    client.create_project(project)
    project_id = client.read_project(project_name=project).id
    datasets = {a: client.create_dataset(f"{project}-{a}") for a in ("a1", "a2")}
    rules = {
        a: create_rule(client, display_name=f"{a} liked", session_id=str(project_id),
                       sampling_rate=1.0, filter=liked_turns_of(a),
                       add_to_dataset_id=str(datasets[a].id))
        for a in ("a1", "a2")
    }
    turns = [turn(client, project, a, f"q{i}") for i, a in enumerate(["a1", "a2", "a1", "a2"])]
    client.flush()
    wait_for(lambda: all(client.read_run(t) for t in turns))
    # Three ways the SDK sends feedback: a plain create, one batched with the trace (trace_id),
    # and a presigned token as a browser would use it.
    liked = client.create_feedback(turns[0], key="thumbs", score=1)
    # Feedback on a stored run names its trace and project, as LangSmith's does.
    stored = client.read_feedback(liked.id)
    assert (stored.trace_id, stored.session_id) == (turns[0], project_id)
    client.create_feedback(turns[2], key="thumbs", score=0)
    client.create_feedback(trace_id=turns[1], key="thumbs", score=1)
    client.flush()
    token = client.create_presigned_feedback_token(turns[3], "thumbs")
    response = client.session.post(token.url, json={"score": 1})
    assert response.status_code == 200, response.text

    def examples_of(assistant, count):
        found = list(client.list_examples(dataset_id=datasets[assistant].id))
        return found if len(found) == count else None

    a1 = wait_for(lambda: examples_of("a1", 1))
    a2 = wait_for(lambda: examples_of("a2", 2))
    assert a1[0].inputs == {"q": "q0"}
    assert a1[0].outputs == {"answer": "a1 says q0"}
    assert a1[0].source_run_id == turns[0]
    assert a1[0].metadata["run_rule_id"] == rules["a1"]["id"]
    assert sorted(str(e.source_run_id) for e in a2) == sorted(str(t) for t in turns[1::2])

    # The app builds its next prompt from them: few-shot pairs in dataset order.
    shots = [(e.inputs["q"], e.outputs["answer"]) for e in client.list_examples(dataset_id=datasets["a2"].id)]
    assert sorted(shots) == [("q1", "a2 says q1"), ("q3", "a2 says q3")]

    logs = client.request_with_retries("GET", f"/runs/rules/{rules['a1']['id']}/logs").json()
    assert [entry["run_id"] for entry in logs] == [str(turns[0])]
    assert logs[0]["add_to_dataset"]["outcome"] == "success"


def test_disliked_turns_go_to_a_review_queue(client, project):
    client.create_project(project)
    project_id = client.read_project(project_name=project).id
    queue = client.create_annotation_queue(name=f"{project}-review")
    create_rule(client, display_name="disliked", session_id=str(project_id), sampling_rate=1.0,
                filter='and(eq(feedback_key, "thumbs"), eq(feedback_score, 0))',
                add_to_annotation_queue_id=str(queue.id))
    good, bad = turn(client, project, "a1", "good"), turn(client, project, "a1", "bad")
    client.flush()
    wait_for(lambda: client.read_run(bad))
    client.create_feedback(good, key="thumbs", score=1)
    client.create_feedback(bad, key="thumbs", score=0, comment="wrong")
    queued = wait_for(lambda: list(client.list_runs_from_annotation_queue(queue.id)) or None)
    assert [r.id for r in queued] == [bad]
    # The reviewer's verdict from the queue lands on the run.
    client.create_feedback(bad, key="correctness", score=0)
    feedback = wait_for(lambda: list(client.list_feedback(run_ids=[bad], feedback_key=["correctness"])) or None)
    assert feedback[0].score == 0
