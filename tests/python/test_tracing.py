"""An unchanged app using the official langsmith SDK traces into Loopsmith and reads it back."""

import uuid

import pytest
from langsmith import Client, RunTree, traceable
from langsmith import trace as trace_cm
from langsmith.run_helpers import tracing_context
from langsmith.schemas import Attachment
from langsmith.utils import LangSmithConflictError, LangSmithNotFoundError

from conftest import wait_for


def runs_of(client, project, expected):
    return wait_for(lambda: (lambda rs: rs if len(rs) >= expected else None)(list(client.list_runs(project_name=project))))


def test_nested_traceable_tree_with_error(client, project):
    @traceable(run_type="tool", tags=["leaf"])
    def inner(x):
        if x < 0:
            raise ValueError("negative input")
        return {"doubled": x * 2}

    @traceable(run_type="llm", metadata={"model": "fake-1"})
    def middle(x):
        try:
            return inner(x)
        except ValueError:
            return {"doubled": None}

    @traceable(run_type="chain", tags=["top"], metadata={"assistant_id": "a-7"})
    def outer(a, b):
        return {"results": [middle(a), middle(b)]}

    with tracing_context(client=client, project_name=project, enabled=True):
        result = outer(3, -1, langsmith_extra={"metadata": {"turn": 1}})
    assert result == {"results": [{"doubled": 6}, {"doubled": None}]}
    client.flush()

    runs = runs_of(client, project, 5)
    assert len(runs) == 5
    by_name = {}
    for run in runs:
        by_name.setdefault(run.name, []).append(run)
    (root,) = by_name["outer"]
    assert root.parent_run_id is None
    assert root.run_type == "chain"
    assert root.inputs == {"a": 3, "b": -1}
    assert root.outputs == {"results": [{"doubled": 6}, {"doubled": None}]}
    assert root.status == "success"
    assert "top" in root.tags
    assert root.extra["metadata"]["assistant_id"] == "a-7"
    assert root.extra["metadata"]["turn"] == 1
    assert root.extra["runtime"]["sdk"] == "langsmith-py"
    assert all(r.trace_id == root.id for r in runs)

    failed = [r for r in by_name["inner"] if r.error]
    assert len(failed) == 1
    assert "negative input" in failed[0].error
    assert failed[0].status == "error"
    assert failed[0].run_type == "tool"
    assert "leaf" in failed[0].tags
    ok = [r for r in by_name["inner"] if not r.error][0]
    assert ok.outputs == {"doubled": 6}
    assert ok.status == "success"
    for llm in by_name["middle"]:
        assert llm.run_type == "llm"
        assert llm.parent_run_id == root.id
        assert llm.extra["metadata"]["model"] == "fake-1"
        assert llm.dotted_order.startswith(root.dotted_order + ".")

    tree = client.read_run(root.id, load_child_runs=True)
    assert [c.name for c in tree.child_runs] == ["middle", "middle"]
    assert [[g.name for g in c.child_runs] for c in tree.child_runs] == [["inner"], ["inner"]]
    assert len(list(client.list_runs(project_name=project, trace_id=root.id))) == 5
    assert len(list(client.list_runs(project_name=project, is_root=True))) == 1
    assert len(list(client.list_runs(project_name=project, error=True))) == 1


def test_trace_context_manager(client, project):
    with tracing_context(enabled=True):
        with trace_cm("cm-root", "chain", inputs={"q": "why"}, project_name=project, client=client,
                      tags=["cm"], metadata={"k": "v"}) as rt:
            with trace_cm("cm-child", "retriever", inputs={"query": "why"}, client=client) as child:
                child.end(outputs={"documents": ["because"]})
            rt.end(outputs={"answer": "because"})
    client.flush()
    runs = runs_of(client, project, 2)
    root = next(r for r in runs if r.name == "cm-root")
    child = next(r for r in runs if r.name == "cm-child")
    assert root.outputs == {"answer": "because"}
    assert root.extra["metadata"]["k"] == "v"
    assert "cm" in root.tags
    assert child.parent_run_id == root.id
    assert child.run_type == "retriever"
    assert child.outputs == {"documents": ["because"]}


def test_manual_run_tree_post_and_patch(client, project):
    root = RunTree(name="manual", run_type="chain", inputs={"n": 1}, project_name=project, client=client)
    root.post()
    child = root.create_child(name="manual-child", run_type="tool", inputs={"n": 2})
    child.post()
    child.end(outputs={"m": 4})
    child.patch()
    root.end(outputs={"m": 2})
    root.patch()
    client.flush()
    got = wait_for(lambda: (lambda r: r if r.outputs else None)(client.read_run(root.id)))
    assert got.outputs == {"m": 2}
    assert got.inputs == {"n": 1}
    got_child = wait_for(lambda: client.read_run(child.id))
    assert got_child.parent_run_id == root.id
    assert got_child.outputs == {"m": 4}
    assert got_child.trace_id == root.id
    assert got_child.dotted_order == child.dotted_order


def test_create_and_update_run_without_batching(server, project):
    client = Client(api_url=server.url, api_key="k", auto_batch_tracing=False)
    root_id, child_id = uuid.uuid4(), uuid.uuid4()
    client.create_run("plain-root", {"question": "q"}, "chain", id=root_id, project_name=project)
    client.create_run("plain-child", {"x": 1}, "llm", id=child_id, parent_run_id=root_id, project_name=project)
    client.update_run(child_id, outputs={"y": 2}, end_time=None)
    client.update_run(root_id, outputs={"answer": "a"}, error=None)
    root = client.read_run(root_id)
    child = client.read_run(child_id)
    # Neither trace_id nor dotted_order was sent: the server derived them.
    assert root.trace_id == root_id
    assert root.dotted_order.endswith(str(root_id))
    assert child.trace_id == root_id
    assert child.parent_run_id == root_id
    assert child.dotted_order.startswith(root.dotted_order + ".")
    assert child.outputs == {"y": 2}
    assert root.outputs == {"answer": "a"}
    assert root.inputs == {"question": "q"}


def test_background_batches_with_zstd(client, project):
    info = client.info
    assert info.instance_flags["zstd_compression_enabled"] is True
    assert info.batch_ingest_config["use_multipart_endpoint"] is True

    @traceable(run_type="chain")
    def step(i):
        return {"i": i}

    with tracing_context(client=client, project_name=project, enabled=True):
        for i in range(300):
            step(i)
    # With the flag on and zstandard installed, the SDK buffers into a zstd stream.
    assert client.compressed_traces is not None
    client.flush()
    runs = runs_of(client, project, 300)
    assert len(runs) == 300
    assert sorted(r.outputs["i"] for r in runs) == list(range(300))
    assert all(r.status == "success" for r in runs)


def test_langchain_runnables_are_traced(client, project):
    from langchain_core.runnables import RunnableLambda
    from langchain_core.tracers import LangChainTracer

    chain = RunnableLambda(lambda x: x + 1).with_config(run_name="add_one") | RunnableLambda(
        lambda x: x * 10
    ).with_config(run_name="times_ten")
    tracer = LangChainTracer(client=client, project_name=project)
    assert chain.invoke(1, config={"callbacks": [tracer], "run_name": "lc-chain"}) == 20
    tracer.wait_for_futures()
    client.flush()
    runs = runs_of(client, project, 3)
    names = sorted(r.name for r in runs)
    assert names == ["add_one", "lc-chain", "times_ten"]
    root = next(r for r in runs if r.name == "lc-chain")
    assert root.parent_run_id is None
    assert root.outputs == {"output": 20}
    for child in runs:
        if child.name != "lc-chain":
            assert child.parent_run_id == root.id
            assert any(t.startswith("seq:step:") for t in child.tags)


def test_attachment_round_trip(client, project):
    payload = b"\x89PNG\r\n\x1a\nfake image bytes"

    @traceable
    def describe(image: Attachment, prompt: str):
        return {"description": "a fake image"}

    with tracing_context(client=client, project_name=project, enabled=True):
        describe(Attachment(mime_type="image/png", data=payload), "what is it?")
    client.flush()
    (run,) = runs_of(client, project, 1)
    full = wait_for(lambda: (lambda r: r if r.attachments else None)(client.read_run(run.id)))
    (name, info), = full.attachments.items()
    assert name == "image"
    assert info["mime_type"] == "image/png"
    assert info["reader"].read() == payload
    assert full.inputs == {"prompt": "what is it?"}


def test_projects(client):
    name = f"proj-{uuid.uuid4().hex[:8]}"
    created = client.create_project(name, description="first", metadata={"team": "ml"})
    assert created.name == name
    assert client.has_project(name)
    with pytest.raises(LangSmithConflictError):
        client.create_project(name)
    by_name = client.read_project(project_name=name)
    by_id = client.read_project(project_id=created.id)
    assert by_name.id == by_id.id == created.id
    assert by_id.description == "first"
    assert by_id.metadata["team"] == "ml"
    assert by_id.tenant_id is not None
    listed = [p.name for p in client.list_projects(name_contains=name[:9])]
    assert name in listed
    updated = client.update_project(created.id, description="second", metadata={"team": "ai"})
    assert updated.description == "second"
    assert client.read_project(project_id=created.id).metadata["team"] == "ai"

    @traceable
    def work():
        return 1

    with tracing_context(client=client, project_name=name, enabled=True):
        work()
    client.flush()
    (run,) = runs_of(client, name, 1)
    stats = client.read_project(project_name=name, include_stats=True)
    assert stats.run_count == 1
    client.delete_project(project_name=name)
    assert not client.has_project(name)
    with pytest.raises(LangSmithNotFoundError):
        client.read_run(run.id)


@pytest.mark.parametrize("suffix", ["", "/api/v1"])
def test_endpoint_with_and_without_api_v1(server, project, suffix):
    client = Client(api_url=server.url + suffix, api_key="k")

    @traceable
    def ping(x):
        return {"pong": x}

    with tracing_context(client=client, project_name=project, enabled=True):
        ping(1)
    client.flush()
    (run,) = runs_of(client, project, 1)
    assert run.outputs == {"pong": 1}
    assert client.read_run(run.id).name == "ping"
