"""An unchanged app using the official langsmith SDK (0.10.5) traces into Loopsmith and reads it back.

Every test configures its client through arguments only (the environment is scrubbed in conftest),
writes into its own project (uuid name) and asserts the data read back through the SDK. A `Recorder`
(requests response hook on the client's session) also checks what the SDK put on the wire, so that a
server answering 4xx to an ingest request (which the SDK only logs) fails the test loudly.
"""

import io
import re
import uuid
from datetime import datetime, timedelta, timezone

import orjson
import pytest
import requests
import zstandard
from requests_toolbelt.multipart.decoder import MultipartDecoder

import langsmith
from langsmith import RunTree, traceable, tracing_context
from langsmith.schemas import Attachment
from langsmith.utils import LangSmithConflictError, LangSmithNotFoundError

from conftest import Recorder, make_client, wait_for

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
SEGMENT_RE = re.compile(rf"^(\d{{8}}T\d{{12}})Z({UUID_RE})$")


# ---------------------------------------------------------------------------------------------
# helpers


def wait_runs(client, project, expected, *, timeout=20.0, **filters):
    """Polls list_runs(project_name=project, **filters) until exactly `expected` runs are there and
    every one of them has ended (its patch was applied too)."""

    def check():
        runs = list(client.list_runs(project_name=project, **filters))
        if len(runs) == expected and all(r.end_time is not None for r in runs):
            return runs
        if len(runs) > expected:
            raise AssertionError(f"expected {expected} runs, got {len(runs)}: {[r.name for r in runs]}")
        return None

    return wait_for(check, timeout=timeout)


def wait_run(client, run_id, *, timeout=15.0, **kwargs):
    """read_run polled until the run exists and has ended."""
    return wait_for(
        lambda: (lambda r: r if r.end_time is not None else None)(client.read_run(run_id, **kwargs)),
        timeout=timeout,
    )


def segments(dotted_order: str):
    """'20240101T000000000000Zuuid.2024...Zuuid' -> [(timestamp, uuid), ...]; asserts the format."""
    out = []
    for seg in dotted_order.split("."):
        m = SEGMENT_RE.match(seg)
        assert m, f"malformed dotted_order segment {seg!r} in {dotted_order!r}"
        out.append((m.group(1), uuid.UUID(m.group(2))))
    return out


def assert_tree_consistent(runs):
    """trace_id / parent_run_id / dotted_order of a whole trace agree with each other."""
    by_id = {r.id: r for r in runs}
    roots = [r for r in runs if r.parent_run_id is None]
    assert len(roots) == 1, f"expected one root, got {[r.name for r in roots]}"
    root = roots[0]
    for run in runs:
        assert run.trace_id == root.id, run.name
        segs = segments(run.dotted_order)
        assert segs[-1][1] == run.id, run.name
        assert segs[0][1] == root.id, run.name
        if run.parent_run_id is None:
            assert len(segs) == 1
        else:
            parent = by_id[run.parent_run_id]
            assert run.dotted_order.startswith(parent.dotted_order + "."), run.name
            assert len(segs) == len(segments(parent.dotted_order)) + 1
            # parent_run_ids: every ancestor, root first
            assert [uuid.UUID(str(x)) for x in run.parent_run_ids or []] == [s[1] for s in segs[:-1]], run.name
        # the timestamp part is the run's own start_time (µs, UTC), as the SDK builds it
        assert segs[-1][0] == run.start_time.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%f"), run.name
    return root


def assert_ingest_ok(rec: Recorder, min_calls=1):
    """Every ingest request the SDK made was accepted (the SDK logs and drops 4xx/5xx)."""
    calls = [c for c in rec.calls if c.method in ("POST", "PATCH") and "/runs" in c.path
             and not c.path.endswith(("/runs/query", "/runs/stats"))]
    assert len(calls) >= min_calls, f"no ingest request recorded: {rec.calls}"
    bad = [(c.method, c.path, c.status, c.response_body[:300]) for c in calls if not 200 <= c.status < 300]
    assert not bad, f"ingest requests refused: {bad}"
    return calls


def multipart_parts(call):
    """Decodes a recorded /runs/multipart request (zstd or plain) into [(name, headers, bytes)]."""
    body = call.body
    assert body is not None, "multipart body was not captured"
    if call.headers.get("content-encoding") == "zstd":
        body = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body), read_across_frames=True).read()
    decoder = MultipartDecoder(body, call.headers["content-type"])
    out = []
    for part in decoder.parts:
        headers = {k.decode().lower(): v.decode() for k, v in part.headers.items()}
        m = re.search(r'name="([^"]+)"', headers["content-disposition"])
        out.append((m.group(1), headers, part.content))
    return out


# ---------------------------------------------------------------------------------------------
# 1. nested @traceable


def test_nested_traceable_tree_with_error(client, project):
    rec = Recorder(client)

    @traceable(run_type="tool", tags=["leaf"], metadata={"tool_version": 2})
    def divide(x):
        if x < 0:
            raise ValueError("negative input")
        return {"half": x / 2}

    @traceable(run_type="llm", tags=["mid"], metadata={"model": "fake-1"})
    def think(x):
        try:
            return {"answer": divide(x)["half"]}
        except ValueError as exc:
            return {"answer": None, "caught": str(exc)}

    @traceable(run_type="chain", tags=["top"], metadata={"assistant_id": "a-7"})
    def agent(a, b):
        return {"results": [think(a), think(b)]}

    with tracing_context(client=client, project_name=project, enabled=True):
        result = agent(4, -1, langsmith_extra={"metadata": {"turn": 1}, "tags": ["extra-tag"]})
    assert result == {"results": [{"answer": 2.0}, {"answer": None, "caught": "negative input"}]}
    client.flush()
    assert_ingest_ok(rec)

    runs = wait_runs(client, project, 5)
    names = sorted(r.name for r in runs)
    assert names == ["agent", "divide", "divide", "think", "think"]
    root = assert_tree_consistent(runs)
    assert root.name == "agent"
    assert root.run_type == "chain"
    assert root.inputs == {"a": 4, "b": -1}
    assert root.outputs == result
    assert root.status == "success"
    assert root.error is None
    assert set(root.tags) == {"top", "extra-tag"}
    meta = root.extra["metadata"]
    assert meta["assistant_id"] == "a-7"
    assert meta["turn"] == 1  # langsmith_extra metadata
    assert meta["ls_method"] == "traceable"
    assert root.extra["runtime"]["sdk"] == "langsmith-py"
    assert root.extra["runtime"]["sdk_version"] == "0.10.5"
    assert root.end_time >= root.start_time
    project_obj = client.read_project(project_name=project)
    assert all(r.session_id == project_obj.id for r in runs)

    thinks = sorted((r for r in runs if r.name == "think"), key=lambda r: r.dotted_order)
    for run in thinks:
        assert run.run_type == "llm"
        assert run.parent_run_id == root.id
        assert run.status == "success"
        # tags and metadata propagate from the parent, plus the decorator's own
        assert set(run.tags) == {"top", "extra-tag", "mid"}
        assert run.extra["metadata"]["model"] == "fake-1"
        assert run.extra["metadata"]["assistant_id"] == "a-7"
    assert [r.inputs for r in thinks] == [{"x": 4}, {"x": -1}]
    assert [r.outputs for r in thinks] == result["results"]

    divides = sorted((r for r in runs if r.name == "divide"), key=lambda r: r.dotted_order)
    ok, failed = divides
    for run, parent in zip(divides, thinks):
        assert run.run_type == "tool"
        assert run.parent_run_id == parent.id
        assert set(run.tags) == {"top", "extra-tag", "mid", "leaf"}
        assert run.extra["metadata"]["tool_version"] == 2
        assert run.extra["metadata"]["model"] == "fake-1"
    assert ok.inputs == {"x": 4}
    assert ok.outputs == {"half": 2.0}
    assert ok.status == "success"
    assert ok.error is None
    assert failed.inputs == {"x": -1}
    assert failed.status == "error"
    # the SDK sends repr(exc) + "\n\n" + the formatted traceback
    assert failed.error.startswith("ValueError('negative input')")
    assert "Traceback (most recent call last)" in failed.error
    assert failed.end_time is not None

    # GET /runs/{id} of the failing run directly
    direct = client.read_run(failed.id)
    assert direct.status == "error"
    assert direct.error == failed.error
    assert direct.dotted_order == failed.dotted_order
    assert direct.trace_id == root.id

    # read_run(load_child_runs=True): GET /runs/{id} + POST /runs/query {trace, is_root: false}
    tree = client.read_run(root.id, load_child_runs=True)
    assert tree.outputs == result
    assert [c.name for c in tree.child_runs] == ["think", "think"]
    assert [c.id for c in tree.child_runs] == [t.id for t in thinks]
    assert [[g.name for g in c.child_runs] for c in tree.child_runs] == [["divide"], ["divide"]]
    assert tree.child_runs[1].child_runs[0].error == failed.error
    # and from a middle node only its own subtree
    sub = client.read_run(thinks[1].id, load_child_runs=True)
    assert [c.id for c in sub.child_runs] == [failed.id]

    # list_runs filters
    assert {r.id for r in client.list_runs(project_name=project, trace_id=root.id)} == {r.id for r in runs}
    assert {r.id for r in client.list_runs(trace_id=root.id)} == {r.id for r in runs}
    assert [r.id for r in client.list_runs(project_name=project, is_root=True)] == [root.id]
    assert [r.id for r in client.list_runs(project_name=project, error=True)] == [failed.id]
    assert {r.id for r in client.list_runs(project_name=project, error=False)} == {r.id for r in runs} - {failed.id}
    assert {r.id for r in client.list_runs(project_name=project, run_type="llm")} == {t.id for t in thinks}
    assert {r.id for r in client.list_runs(project_name=project, parent_run_id=root.id)} == {t.id for t in thinks}
    assert {r.id for r in client.list_runs(run_ids=[ok.id, failed.id])} == {ok.id, failed.id}
    assert len(list(client.list_runs(project_name=project, limit=2))) == 2


# ---------------------------------------------------------------------------------------------
# 2. trace() context manager


def test_trace_context_manager(client, project):
    rec = Recorder(client)
    with tracing_context(enabled=True):
        with langsmith.trace("cm-root", "chain", inputs={"q": "why"}, project_name=project, client=client,
                             tags=["cm"], metadata={"k": "v"}) as rt:
            with langsmith.trace("cm-child", "retriever", inputs={"query": "why"}, client=client) as child:
                child.end(outputs={"documents": ["because"]})
            rt.end(outputs={"answer": "because"})
        with pytest.raises(KeyError):
            with langsmith.trace("cm-fails", "tool", inputs={"k": 1}, project_name=project, client=client):
                raise KeyError("missing")
    client.flush()
    assert_ingest_ok(rec)

    runs = wait_runs(client, project, 3)
    root = next(r for r in runs if r.name == "cm-root")
    kid = next(r for r in runs if r.name == "cm-child")
    failed = next(r for r in runs if r.name == "cm-fails")
    assert_tree_consistent([root, kid])
    assert root.id == rt.id
    assert root.dotted_order == rt.dotted_order
    assert root.run_type == "chain"
    assert root.inputs == {"q": "why"}
    assert root.outputs == {"answer": "because"}
    assert root.status == "success"
    assert root.extra["metadata"]["k"] == "v"
    assert root.extra["metadata"]["ls_method"] == "trace"
    assert "cm" in root.tags
    assert kid.id == child.id
    assert kid.parent_run_id == root.id
    assert kid.run_type == "retriever"
    assert kid.inputs == {"query": "why"}
    assert kid.outputs == {"documents": ["because"]}
    assert "cm" in kid.tags  # inherited
    assert kid.extra["metadata"]["k"] == "v"
    # an exception inside trace() ends the run with the error and re-raises
    assert failed.parent_run_id is None
    assert failed.trace_id == failed.id
    assert failed.run_type == "tool"
    assert failed.status == "error"
    assert failed.error.startswith("KeyError('missing')")

    tree = client.read_run(root.id, load_child_runs=True)
    assert [c.name for c in tree.child_runs] == ["cm-child"]
    assert tree.child_runs[0].outputs == {"documents": ["because"]}
    assert [r.name for r in client.list_runs(project_name=project, is_root=True, error=True)] == ["cm-fails"]


# ---------------------------------------------------------------------------------------------
# 3. RunTree.post() / end() / patch()


def test_manual_run_tree_post_and_patch(client, project):
    rec = Recorder(client)
    root = RunTree(name="manual", run_type="chain", inputs={"n": 1}, project_name=project, client=client,
                   tags=["manual"], extra={"metadata": {"source": "runtree"}})
    root.post()
    child = root.create_child(name="manual-child", run_type="tool", inputs={"n": 2}, tags=["kid"])
    child.post()
    child.end(outputs={"m": 4})
    child.patch()
    broken = root.create_child(name="manual-broken", run_type="retriever", inputs={"n": 3})
    broken.post()
    broken.end(error="index unavailable")
    broken.patch()
    root.end(outputs={"m": 2})
    root.patch()
    client.flush()
    assert_ingest_ok(rec)

    runs = wait_runs(client, project, 3)
    assert_tree_consistent(runs)
    got = wait_run(client, root.id)
    assert got.name == "manual"
    assert got.run_type == "chain"
    assert got.inputs == {"n": 1}
    assert got.outputs == {"m": 2}
    assert got.status == "success"
    assert got.trace_id == root.id
    assert got.dotted_order == root.dotted_order
    assert got.parent_run_id is None
    assert "manual" in got.tags
    assert got.extra["metadata"]["source"] == "runtree"
    assert got.session_id == client.read_project(project_name=project).id

    got_child = client.read_run(child.id)
    assert got_child.name == "manual-child"
    assert got_child.run_type == "tool"
    assert got_child.parent_run_id == root.id
    assert got_child.trace_id == root.id
    assert got_child.dotted_order == child.dotted_order
    assert got_child.inputs == {"n": 2}
    assert got_child.outputs == {"m": 4}
    assert got_child.status == "success"
    assert "kid" in got_child.tags

    got_broken = client.read_run(broken.id)
    assert got_broken.status == "error"
    assert got_broken.error == "index unavailable"
    assert got_broken.run_type == "retriever"

    tree = client.read_run(root.id, load_child_runs=True)
    assert [c.id for c in tree.child_runs] == [child.id, broken.id]


# ---------------------------------------------------------------------------------------------
# 4. create_run / update_run without batching: plain POST /runs and PATCH /runs/{id}


def test_create_and_update_run_without_batching(server, project):
    client = make_client(server.url, auto_batch_tracing=False)
    rec = Recorder(client)
    root_id, child_id = uuid.uuid4(), uuid.uuid4()
    t0 = datetime.now(timezone.utc).replace(microsecond=123456)
    t1 = t0 + timedelta(milliseconds=5)
    client.create_run("plain-root", {"question": "q"}, "chain", id=root_id, project_name=project,
                      start_time=t0, tags=["plain"], extra={"metadata": {"via": "create_run"}})
    client.create_run("plain-child", {"x": 1}, "llm", id=child_id, parent_run_id=root_id,
                      project_name=project, start_time=t1, tags=["kid"])
    client.update_run(child_id, outputs={"y": 2}, end_time=t1 + timedelta(milliseconds=3))
    client.update_run(root_id, outputs={"answer": "a"}, error="root failed late",
                      end_time=t1 + timedelta(milliseconds=9))

    # What went over the wire: two plain POST /runs without trace_id/dotted_order, two PATCHes whose
    # bodies carry explicit nulls (name, run_type, parent_run_id, trace_id, dotted_order, tags...)
    posts = rec.find("POST", "/runs")
    patches = [c for c in rec.calls if c.method == "PATCH"]
    assert [c.path for c in posts] == ["/runs", "/runs"]
    assert [c.path for c in patches] == [f"/runs/{child_id}", f"/runs/{root_id}"]
    assert all(200 <= c.status < 300 for c in posts + patches), [(c.path, c.status) for c in posts + patches]
    for call in posts:
        body = orjson.loads(call.body)
        assert body.get("trace_id") is None and body.get("dotted_order") is None
        assert body["session_name"] == project
    patch_body = orjson.loads(patches[0].body)
    assert patch_body["parent_run_id"] is None and patch_body["name"] is None and patch_body["tags"] is None
    assert not rec.find("POST", "/runs/multipart") and not rec.find("POST", "/runs/batch")

    root = wait_run(client, root_id)
    child = wait_run(client, child_id)
    # Neither trace_id nor dotted_order was sent: the server derived them from parent and start_time.
    assert root.trace_id == root_id
    assert root.dotted_order == f"{t0:%Y%m%dT%H%M%S%f}Z{root_id}"
    assert child.trace_id == root_id
    assert child.dotted_order == f"{root.dotted_order}.{t1:%Y%m%dT%H%M%S%f}Z{child_id}"
    assert_tree_consistent([root, child])
    # PATCH's nulls left the created fields alone
    assert child.parent_run_id == root_id
    assert child.name == "plain-child"
    assert child.run_type == "llm"
    assert "kid" in child.tags
    assert child.inputs == {"x": 1}
    assert child.outputs == {"y": 2}
    assert child.status == "success"
    assert child.end_time == t1 + timedelta(milliseconds=3)
    assert root.name == "plain-root"
    assert root.inputs == {"question": "q"}
    assert root.outputs == {"answer": "a"}
    assert root.error == "root failed late"
    assert root.status == "error"
    assert root.start_time == t0
    assert root.extra["metadata"]["via"] == "create_run"
    assert "plain" in root.tags
    assert root.session_id == client.read_project(project_name=project).id  # created on first use

    tree = client.read_run(root_id, load_child_runs=True)
    assert [c.id for c in tree.child_runs] == [child_id]
    assert {r.id for r in client.list_runs(project_name=project, trace_id=root_id)} == {root_id, child_id}


# ---------------------------------------------------------------------------------------------
# 5. background batches, multipart + zstd


def test_background_batches_with_zstd(client, project):
    rec = Recorder(client)
    # GET /info advertises multipart + zstd ...
    info = client.info
    assert info.version
    assert (info.batch_ingest_config or {}).get("use_multipart_endpoint", True) is True
    assert info.instance_flags["zstd_compression_enabled"] is True
    # ... so the SDK's tracing thread switches to its zstd buffer (set once /info was read;
    # langsmith/_internal/_background_thread.py: tracing_control_thread_func).
    wait_for(lambda: client.compressed_traces is not None, timeout=10)

    @traceable(run_type="tool")
    def square(i):
        return {"sq": i * i}

    @traceable(run_type="chain")
    def step(i):
        return {"i": i, "sq": square(i)["sq"]}

    with tracing_context(client=client, project_name=project, enabled=True):
        for i in range(150):
            step(i)
    client.flush()

    calls = assert_ingest_ok(rec)
    mp = rec.find("POST", "/runs/multipart")
    assert mp and len(mp) == len(calls), [(c.method, c.path) for c in calls]  # nothing via /runs/batch or /runs
    posted = set()
    for call in mp:
        assert call.headers["content-encoding"] == "zstd"
        assert call.headers["content-type"].startswith("multipart/form-data; boundary=")
        for name, headers, data in multipart_parts(call):
            kind, _, rest = name.partition(".")
            assert kind in ("post", "patch", "attachment", "feedback"), name
            if kind == "post" and "." not in rest:
                assert headers["content-type"].startswith("application/json")
                posted.add(uuid.UUID(rest))
    assert len(posted) == 300

    runs = wait_runs(client, project, 300, timeout=60)
    assert {r.id for r in runs} == posted
    steps = [r for r in runs if r.name == "step"]
    squares = [r for r in runs if r.name == "square"]
    assert len(steps) == len(squares) == 150
    assert sorted(r.outputs["i"] for r in steps) == list(range(150))
    assert all(r.outputs["sq"] == r.inputs["i"] ** 2 for r in steps)
    assert all(r.status == "success" for r in runs)
    by_id = {r.id: r for r in runs}
    for sq in squares:
        parent = by_id[sq.parent_run_id]
        assert parent.name == "step"
        assert sq.trace_id == parent.id
        assert sq.inputs["i"] == parent.inputs["i"]
        assert sq.dotted_order.startswith(parent.dotted_order + ".")
    assert len(list(client.list_runs(project_name=project, is_root=True))) == 150
    stats = client.read_project(project_name=project, include_stats=True)
    assert stats.run_count in (150, 300)  # root traces or all runs, depending on the server's counting


@pytest.mark.parametrize("mode", ["plain-multipart", "runs-batch"])
def test_other_ingest_paths(server, project, mode):
    """The SDK's other two ingest paths, chosen from what /info advertises: multipart without zstd
    (zstd_compression_enabled false or absent) and JSON POST /runs/batch
    (batch_ingest_config.use_multipart_endpoint false). The client is handed that /info up front."""
    info = requests.get(f"{server.url}/info", timeout=10).json()
    if mode == "plain-multipart":
        info["instance_flags"] = {**(info.get("instance_flags") or {}), "zstd_compression_enabled": False}
    else:
        info["batch_ingest_config"] = {**(info.get("batch_ingest_config") or {}), "use_multipart_endpoint": False}
    rec = Recorder()
    client = make_client(server.url, info=info, session=rec.session)

    @traceable(run_type="retriever")
    def fetch(q):
        if q == "bad":
            raise RuntimeError("backend down")
        return {"docs": [q.upper()]}

    @traceable(run_type="chain", metadata={"mode": mode})
    def rag(qs):
        out = []
        for q in qs:
            try:
                out.append(fetch(q)["docs"][0])
            except RuntimeError:
                out.append(None)
        return {"answers": out}

    with tracing_context(client=client, project_name=project, enabled=True):
        for i in range(3):
            rag([f"q{i}", "bad"], langsmith_extra={"run_id": uuid.uuid4()})
    client.flush()

    calls = assert_ingest_ok(rec)
    assert client.compressed_traces is None
    if mode == "plain-multipart":
        assert {c.path for c in calls} == {"/runs/multipart"}
        assert all("content-encoding" not in c.headers for c in calls)
        names = [n for c in calls for n, _, _ in multipart_parts(c)]
        assert any(n.startswith("post.") for n in names), names
    else:
        assert {c.path for c in calls} == {"/runs/batch"}
        bodies = [orjson.loads(c.body) for c in calls]
        assert all(set(b) <= {"post", "patch"} for b in bodies), bodies
        assert sum(len(b.get("post") or []) for b in bodies) == 9

    runs = wait_runs(client, project, 9)
    roots = [r for r in runs if r.parent_run_id is None]
    assert len(roots) == 3
    for root in roots:
        trace = [r for r in runs if r.trace_id == root.id]
        assert_tree_consistent(trace)
        assert root.outputs["answers"][1] is None
        assert root.extra["metadata"]["mode"] == mode
        kids = sorted((r for r in trace if r.id != root.id), key=lambda r: r.dotted_order)
        assert [k.status for k in kids] == ["success", "error"]
        assert kids[1].error.startswith("RuntimeError('backend down')")
        assert kids[0].outputs["docs"][0] == root.outputs["answers"][0]
        tree = client.read_run(root.id, load_child_runs=True)
        assert [c.id for c in tree.child_runs] == [k.id for k in kids]


# ---------------------------------------------------------------------------------------------
# 6. LangChain runnables through LangChainTracer


def test_langchain_runnables_are_traced(client, project):
    from langchain_core.runnables import RunnableLambda
    from langchain_core.tracers import LangChainTracer

    rec = Recorder(client)
    chain = RunnableLambda(lambda x: x + 1).with_config(run_name="add_one") | RunnableLambda(
        lambda x: x * 10
    ).with_config(run_name="times_ten")
    tracer = LangChainTracer(client=client, project_name=project)
    assert chain.invoke(1, config={"callbacks": [tracer], "run_name": "lc-chain", "tags": ["lc"],
                                   "metadata": {"user": "u1"}}) == 20
    tracer.wait_for_futures()
    client.flush()
    assert_ingest_ok(rec)

    runs = wait_runs(client, project, 3)
    root = assert_tree_consistent(runs)
    assert root.name == "lc-chain"
    assert root.run_type == "chain"
    assert root.inputs == {"input": 1}
    assert root.outputs == {"output": 20}
    assert root.status == "success"
    assert "lc" in root.tags
    assert root.extra["metadata"]["user"] == "u1"
    kids = {r.name: r for r in runs if r.id != root.id}
    assert set(kids) == {"add_one", "times_ten"}
    assert kids["add_one"].inputs == {"input": 1}
    assert kids["add_one"].outputs == {"output": 2}
    assert kids["times_ten"].inputs == {"input": 2}
    assert kids["times_ten"].outputs == {"output": 20}
    assert "seq:step:1" in kids["add_one"].tags
    assert "seq:step:2" in kids["times_ten"].tags
    for kid in kids.values():
        assert kid.parent_run_id == root.id
        assert kid.run_type == "chain"
        assert kid.status == "success"

    tree = client.read_run(root.id, load_child_runs=True)
    assert [c.name for c in tree.child_runs] == ["add_one", "times_ten"]


# ---------------------------------------------------------------------------------------------
# 7. attachments (multipart attachment parts, read back through s3_urls presigned URLs)


def test_attachment_round_trip(client, project):
    rec = Recorder(client)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    notes = "naïve notes ✓".encode()

    @traceable
    def describe(image: Attachment, notes: Attachment, prompt: str):
        return {"description": "a fake image"}

    with tracing_context(client=client, project_name=project, enabled=True):
        describe(Attachment(mime_type="image/png", data=png), ("text/plain", notes), "what is it?")
    client.flush()
    assert_ingest_ok(rec)
    names = [n for call in rec.find("POST", "/runs/multipart") for n, _, _ in multipart_parts(call)]
    assert any(n.startswith("attachment.") and n.endswith(".image") for n in names), names

    (run,) = wait_runs(client, project, 1)
    assert run.inputs == {"prompt": "what is it?"}
    assert run.outputs == {"description": "a fake image"}
    full = wait_for(lambda: (lambda r: r if len(r.attachments) == 2 else None)(client.read_run(run.id)))
    assert set(full.attachments) == {"image", "notes"}
    assert full.attachments["image"]["mime_type"] == "image/png"
    assert full.attachments["image"]["reader"].read() == png
    assert full.attachments["notes"]["mime_type"] == "text/plain"
    assert full.attachments["notes"]["reader"].read() == notes
    assert all(a["presigned_url"] for a in full.attachments.values())


def test_run_tree_attachments_on_post_and_patch(client, project):
    rec = Recorder(client)
    rt = RunTree(name="with-files", run_type="chain", inputs={"q": 1}, project_name=project, client=client,
                 attachments={"early": ("application/octet-stream", b"\x00\x01\x02early")})
    rt.post()
    # added after post(): the SDK uploads it with the patch
    rt.attachments["late"] = ("application/json", b'{"late": true}')
    rt.end(outputs={"a": 1})
    rt.patch()
    client.flush()
    assert_ingest_ok(rec)

    full = wait_for(lambda: (lambda r: r if len(r.attachments) == 2 and r.end_time else None)(
        client.read_run(rt.id)))
    assert full.outputs == {"a": 1}
    assert full.attachments["early"]["reader"].read() == b"\x00\x01\x02early"
    assert full.attachments["early"]["mime_type"] == "application/octet-stream"
    assert full.attachments["late"]["reader"].read() == b'{"late": true}'
    assert full.attachments["late"]["mime_type"] == "application/json"


# ---------------------------------------------------------------------------------------------
# 8. projects


def test_projects(client):
    name = f"proj-{uuid.uuid4().hex}"
    assert not client.has_project(name)
    with pytest.raises(LangSmithNotFoundError):
        client.read_project(project_name=name)

    created = client.create_project(name, description="first", metadata={"team": "ml"})
    assert created.name == name
    assert created.description == "first"
    assert created.metadata == {"team": "ml"}
    assert client.has_project(name)
    with pytest.raises(LangSmithConflictError):
        client.create_project(name)

    by_name = client.read_project(project_name=name)
    by_id = client.read_project(project_id=created.id)
    assert by_name.id == by_id.id == created.id
    assert by_name.name == by_id.name == name
    assert by_id.description == "first"
    assert by_id.metadata["team"] == "ml"
    assert by_id.tenant_id is not None
    assert by_id.start_time is not None

    listed = list(client.list_projects(name_contains=name[5:20]))
    assert [p.id for p in listed] == [created.id]
    assert listed[0].description == "first"
    assert listed[0].metadata["team"] == "ml"
    assert created.id in {p.id for p in client.list_projects()}
    assert [p.id for p in client.list_projects(name=name)] == [created.id]
    assert [p.id for p in client.list_projects(project_ids=[created.id])] == [created.id]

    updated = client.update_project(created.id, description="second", metadata={"team": "ai"})
    assert updated.description == "second"
    again = client.read_project(project_id=created.id)
    assert again.description == "second"
    assert again.metadata["team"] == "ai"
    assert again.name == name

    @traceable
    def work(x):
        return {"x": x}

    with tracing_context(client=client, project_name=name, enabled=True):
        work(1)
        work(2)
    client.flush()
    runs = wait_runs(client, name, 2)
    assert {r.session_id for r in runs} == {created.id}
    stats = client.read_project(project_name=name, include_stats=True)
    assert stats.run_count == 2

    client.delete_project(project_name=name)
    assert not client.has_project(name)
    with pytest.raises(LangSmithNotFoundError):
        client.read_project(project_id=created.id)
    with pytest.raises(LangSmithNotFoundError):
        client.read_project(project_name=name)
    for run in runs:
        with pytest.raises(LangSmithNotFoundError):
            client.read_run(run.id)
    assert created.id not in {p.id for p in client.list_projects()}

    # the name is free again; delete by id works too
    recreated = client.create_project(name)
    assert recreated.id != created.id
    client.delete_project(project_id=recreated.id)
    assert not client.has_project(name)


def test_rename_project(client):
    old, new = f"proj-{uuid.uuid4().hex}", f"proj-{uuid.uuid4().hex}"
    created = client.create_project(old, description="kept", metadata={"k": 1})
    renamed = client.update_project(created.id, name=new)  # description/extra sent as null
    assert renamed.name == new
    got = client.read_project(project_name=new)
    assert got.id == created.id
    assert got.description == "kept"
    assert got.metadata == {"k": 1}
    assert not client.has_project(old)
    client.delete_project(project_id=created.id)


# ---------------------------------------------------------------------------------------------
# 9. endpoint with and without /api/v1


@pytest.mark.parametrize("suffix", ["", "/api/v1"])
def test_endpoint_with_and_without_api_v1(server, project, suffix):
    rec = Recorder()
    writer = make_client(server.url + suffix, session=rec.session)
    other = make_client(server.url + ("/api/v1" if suffix == "" else ""))
    assert writer.info.instance_flags["zstd_compression_enabled"] is True
    wait_for(lambda: writer.compressed_traces is not None, timeout=10)

    @traceable
    def ping(x):
        return {"pong": x}

    with tracing_context(client=writer, project_name=project, enabled=True):
        ping(1)
    writer.flush()
    calls = assert_ingest_ok(rec)
    assert all(c.path == f"{suffix}/runs/multipart" for c in calls), [c.path for c in calls]
    assert all(c.headers.get("content-encoding") == "zstd" for c in calls)
    assert wait_for(lambda: rec.find("GET", f"{suffix}/info"))[0].status == 200

    (run,) = wait_runs(writer, project, 1)
    assert run.outputs == {"pong": 1}
    # readable through both base URLs
    for reader in (writer, other):
        got = reader.read_run(run.id)
        assert got.name == "ping"
        assert got.inputs == {"x": 1}
        assert got.outputs == {"pong": 1}
        assert reader.read_project(project_name=project).id == run.session_id
    assert [r.id for r in other.list_runs(project_name=project)] == [run.id]
    assert all(c.path.startswith(f"{suffix}/") for c in rec.calls)
