"""langsmith.evaluate() end to end: experiment linked to the dataset, scores on its runs."""

import uuid

from langsmith import evaluate

from conftest import wait_for


def test_evaluate_runs_an_experiment(client):
    ds = client.create_dataset(f"qa-{uuid.uuid4().hex[:8]}")
    client.create_examples(dataset_id=ds.id, inputs=[{"q": "a"}, {"q": "b"}], outputs=[{"a": "A"}, {"a": "x"}])

    def target(inputs):
        return {"a": inputs["q"].upper()}

    def exact(outputs, reference_outputs):
        return {"key": "exact", "score": outputs["a"] == reference_outputs["a"]}

    def total(outputs, reference_outputs):
        return {"key": "total_exact", "score": sum(o["a"] == r["a"] for o, r in zip(outputs, reference_outputs))}

    results = evaluate(target, data=ds.name, evaluators=[exact], summary_evaluators=[total],
                       experiment_prefix="exp", client=client, num_repetitions=2)
    rows = list(results)
    assert len(rows) == 4
    assert sorted(r["evaluation_results"]["results"][0].score for r in rows) == [False, False, True, True]
    client.flush()

    experiment = client.read_project(project_name=results.experiment_name)
    assert experiment.reference_dataset_id == ds.id
    assert experiment.metadata["num_repetitions"] == 2
    runs = wait_for(lambda: (lambda rs: rs if len(rs) == 4 else None)(
        list(client.list_runs(project_name=results.experiment_name, is_root=True))))
    examples = {e.id for e in client.list_examples(dataset_id=ds.id)}
    assert {r.reference_example_id for r in runs} == examples

    def scored():
        stats = client.read_project(project_name=results.experiment_name, include_stats=True)
        return stats if stats.feedback_stats.get("exact", {}).get("n") == 4 else None

    stats = wait_for(scored)
    assert stats.feedback_stats["exact"]["avg"] == 0.5
    assert stats.run_count >= 4
    session_stats = stats.model_dump().get("session_feedback_stats") or {}
    assert session_stats["total_exact"]["avg"] == 2
    assert client.read_dataset(dataset_id=ds.id).session_count == 1
    results_read = client.get_experiment_results(name=results.experiment_name)
    assert results_read["run_stats"]["run_count"] >= 4
    assert results_read["feedback_stats"]["exact"]["n"] == 4
    with_runs = list(results_read["examples_with_runs"])
    assert {e.id for e in with_runs} == examples
    assert all(len(e.runs) == 2 for e in with_runs), "two repetitions per example"
    assert all(run.reference_example_id == e.id for e in with_runs for run in e.runs)
    experiments = list(client.list_projects(reference_dataset_id=ds.id))
    assert [p.name for p in experiments] == [results.experiment_name]
    # Evaluator runs are traced into the "evaluators" project.
    assert client.has_project("evaluators")


def test_aevaluate_and_evaluating_an_existing_experiment(client):
    import asyncio

    from langsmith import aevaluate

    ds = client.create_dataset(f"aqa-{uuid.uuid4().hex[:8]}")
    client.create_examples(dataset_id=ds.id, inputs=[{"n": 1}, {"n": 2}, {"n": 3}], outputs=[{"sq": 1}, {"sq": 4}, {"sq": 10}])

    async def target(inputs):
        return {"sq": inputs["n"] ** 2}

    def correct(outputs, reference_outputs):
        return {"key": "correct", "score": outputs["sq"] == reference_outputs["sq"]}

    results = asyncio.run(aevaluate(target, data=ds.name, evaluators=[correct], client=client,
                                    experiment_prefix="async"))
    client.flush()
    name = results.experiment_name

    def scored(key, n):
        def check():
            stats = client.read_project(project_name=name, include_stats=True)
            return stats if stats.feedback_stats.get(key, {}).get("n") == n else None
        return wait_for(check)

    assert abs(scored("correct", 3).feedback_stats["correct"]["avg"] - 2 / 3) < 1e-9

    # Score the same experiment again with another evaluator, without re-running the target.
    def big(run, example):
        return {"key": "big", "score": run.outputs["sq"] > 3}

    evaluate(name, evaluators=[big], client=client)
    client.flush()
    assert abs(scored("big", 3).feedback_stats["big"]["avg"] - 2 / 3) < 1e-9


def test_pairwise_comparison_of_two_experiments(client):
    ds = client.create_dataset(f"pair-{uuid.uuid4().hex[:8]}")
    client.create_examples(dataset_id=ds.id, inputs=[{"q": "hi"}, {"q": "bye"}], outputs=[{"a": "HI"}, {"a": "BYE"}])
    first = evaluate(lambda inputs: {"a": inputs["q"].upper()}, data=ds.name, client=client, experiment_prefix="upper")
    second = evaluate(lambda inputs: {"a": inputs["q"]}, data=ds.name, client=client, experiment_prefix="same")
    client.flush()
    for experiment in (first, second):
        wait_for(lambda e=experiment: (lambda rs: rs if len(rs) == 2 else None)(
            list(client.list_runs(project_name=e.experiment_name, is_root=True))))

    def prefer_upper(runs, example):
        return {"key": "preference", "scores": {r.id: 1 if r.outputs["a"].isupper() else 0 for r in runs}}

    evaluate((first.experiment_name, second.experiment_name), evaluators=[prefer_upper], client=client)
    client.flush()

    def preferences():
        found = list(client.list_feedback(feedback_key=["preference"]))
        return found if len(found) == 4 else None

    feedback = wait_for(preferences)
    assert sorted(f.score for f in feedback) == [0, 0, 1, 1]
    (comparison,) = {f.comparative_experiment_id for f in feedback}
    assert comparison is not None
    # Each example's pair of runs shares one feedback group.
    assert len({f.feedback_group_id for f in feedback}) == 2
