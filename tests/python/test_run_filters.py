"""The filter language on runs, used the way an app's analytics code uses it, with the official SDK.

One project per backend is seeded once (module fixture) through the SDK as an app would trace it:
four `RunTree` traces with controlled start/end times (posted, then patched) and one `@traceable`
trace, metadata `assistant_id` / `conversation_id`, tags, child runs named "retriever" and
"generate", one failing root, and `user_score` feedback on some roots and one child. Every query
then compares the exact set of run ids the server returns with the set the seed implies.

The seed (root runs are all named chat_turn; latencies in seconds):

    r1  A1, thread t-1, [prod], 2.0, "What is the Capital of France?"   user_score 1
        children: retriever 0.2, generate 1.4
    r2  A1, thread t-1, [beta], 0.5, "Weather in Oslo?"                 user_score 0, helpfulness 1
        children: retriever 0.1 (itself user_score 1)
    r3  A2 (previous_assistant: A1), thread t-2, [prod], 1.0            user_score 1
        children: generate 0.8
    r4  A1, [prod, beta], 5.0, failed                                   no feedback
        children: retriever 0.2
    r5  A2, [prod], @traceable, ~0                                      user_score 1 (batched)
        children: retriever (@traceable)

Children inherit the root's metadata (the SDK copies it), so metadata and thread filters without
is_root also pick them. r3 (an A2 root holding "A1" under another key) and r2 (user_score 0 but
another feedback key scored 1) check that key/value pairs inside one and(...) bind to the same
metadata entry / feedback record.
"""

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
import requests
from langsmith import RunTree, traceable, tracing_context
from langsmith.utils import (
    LangSmithAuthError,
    LangSmithConflictError,
    LangSmithError,
    LangSmithNotFoundError,
)

from conftest import API_KEY, Recorder, make_client, wait_for

A1 = 'and(eq(metadata_key, "assistant_id"), eq(metadata_value, "A1"))'
A2 = 'and(eq(metadata_key, "assistant_id"), eq(metadata_value, "A2"))'
LIKED = 'and(eq(feedback_key, "user_score"), eq(feedback_score, 1))'
# The product's central question: the positively rated turns of one assistant.
A1_LIKED_TURNS = (
    'and(eq(is_root, true), eq(metadata_key, "assistant_id"), eq(metadata_value, "A1"), '
    'eq(feedback_key, "user_score"), eq(feedback_score, 1))'
)
TOTAL_RUNS = 11


@dataclass
class Seed:
    project: str
    project_id: uuid.UUID
    base: datetime  # start time of r1, the earliest seeded run
    ids: dict = field(default_factory=dict)  # label -> run id

    def __getattr__(self, label):
        try:
            return self.__dict__["ids"][label]
        except KeyError:
            raise AttributeError(label) from None

    def labels(self, ids):
        """Run ids -> sorted labels, for readable assertion messages."""
        back = {v: k for k, v in self.ids.items()}
        return sorted(back.get(i, str(i)) for i in ids)


def _tree(client, project, *, start, seconds, question, answer, metadata, tags, children,
          error=None):
    """A trace the way an app writes it with RunTree: post the root, post/patch each child, patch
    the root. `children` are (name, run_type, offset, seconds, inputs, outputs). Returns the ids."""
    root = RunTree(name="chat_turn", run_type="chain", inputs={"question": question},
                   start_time=start, extra={"metadata": metadata}, tags=tags,
                   project_name=project, ls_client=client)
    root.post()
    ids = {"root": root.id}
    for name, run_type, offset, child_seconds, inputs, outputs in children:
        child_start = start + timedelta(seconds=offset)
        child = root.create_child(name, run_type, inputs=inputs, start_time=child_start)
        child.post()
        child.end(outputs=outputs, end_time=child_start + timedelta(seconds=child_seconds))
        child.patch()
        ids[name] = child.id
    root.end(outputs=None if error else {"answer": answer}, error=error,
             end_time=start + timedelta(seconds=seconds))
    root.patch()
    return ids


@pytest.fixture(scope="module")
def seed(server):
    client = make_client(server.url)
    if (client.info.instance_flags or {}).get("zstd_compression_enabled"):
        wait_for(lambda: client.compressed_traces is not None, timeout=10)
    rec = Recorder(client)
    project = f"py-{uuid.uuid4().hex}"
    base = datetime.now(timezone.utc) - timedelta(minutes=10)
    ids = {}

    t = _tree(client, project, start=base, seconds=2.0, question="What is the Capital of France?",
              answer="Paris", metadata={"assistant_id": "A1", "conversation_id": "t-1"},
              tags=["prod"], children=[
                  ("retriever", "retriever", 0.1, 0.2, {"query": "capital france"},
                   {"documents": ["Paris is the capital."]}),
                  ("generate", "llm", 0.4, 1.4, {"prompt": "Answer using the documents"},
                   {"text": "Paris"}),
              ])
    ids.update(r1=t["root"], r1_retriever=t["retriever"], r1_generate=t["generate"])

    t = _tree(client, project, start=base + timedelta(seconds=10), seconds=0.5,
              question="Weather in Oslo?", answer="Rainy",
              metadata={"assistant_id": "A1", "conversation_id": "t-1"}, tags=["beta"],
              children=[("retriever", "retriever", 0.1, 0.1, {"query": "oslo weather"},
                         {"documents": ["Oslo: rain"]})])
    ids.update(r2=t["root"], r2_retriever=t["retriever"])

    t = _tree(client, project, start=base + timedelta(seconds=20), seconds=1.0,
              question="Tell me a joke", answer="Why did the chicken cross the road?",
              metadata={"assistant_id": "A2", "previous_assistant": "A1",
                        "conversation_id": "t-2"},
              tags=["prod"], children=[("generate", "llm", 0.1, 0.8, {"prompt": "joke"},
                                        {"text": "Why did the chicken cross the road?"})])
    ids.update(r3=t["root"], r3_generate=t["generate"])

    t = _tree(client, project, start=base + timedelta(seconds=30), seconds=5.0,
              question="Summarise the report", answer=None, metadata={"assistant_id": "A1"},
              tags=["prod", "beta"], error="TimeoutError('upstream timeout')",
              children=[("retriever", "retriever", 0.1, 0.2, {"query": "report"},
                         {"documents": ["Q3 report"]})])
    ids.update(r4=t["root"], r4_retriever=t["retriever"])

    ids.update(r5=uuid.uuid4(), r5_retriever=uuid.uuid4())

    @traceable(name="retriever", run_type="retriever")
    def retrieve(query):
        return {"documents": ["Bergen: sun"]}

    @traceable(name="chat_turn", run_type="chain", tags=["prod"], metadata={"assistant_id": "A2"})
    def chat_turn(question):
        retrieve(question.lower(), langsmith_extra={"run_id": ids["r5_retriever"]})
        return {"answer": "Sunny"}

    with tracing_context(client=client, project_name=project, enabled=True):
        chat_turn("Weather in Bergen?", langsmith_extra={"run_id": ids["r5"]})
    client.flush()

    def all_ingested():
        runs = list(client.list_runs(project_name=project))
        return len(runs) == TOTAL_RUNS and all(r.end_time is not None for r in runs)

    wait_for(all_ingested, timeout=20)
    bad = [(c.method, c.path, c.status, c.response_body[:300]) for c in rec.calls
           if c.method in ("POST", "PATCH") and "/runs" in c.path and not 200 <= c.status < 300]
    assert not bad, f"ingest requests refused: {bad}"
    assert {r.id for r in client.list_runs(project_name=project)} == set(ids.values())

    client.create_feedback(ids["r1"], key="user_score", score=1)
    client.create_feedback(ids["r2"], key="user_score", score=0)
    client.create_feedback(ids["r2"], key="helpfulness", score=1)
    client.create_feedback(ids["r2_retriever"], key="user_score", score=1)
    client.create_feedback(ids["r3"], key="user_score", score=1)
    # with a trace id the SDK sends feedback in the background batches, as a chat widget would
    client.create_feedback(ids["r5"], trace_id=ids["r5"], key="user_score", score=1)
    client.flush()
    wait_for(lambda: len(list(client.list_feedback(run_ids=list(ids.values())))) == 6)

    project_id = client.read_project(project_name=project).id
    yield Seed(project=project, project_id=project_id, base=base, ids=ids)
    client.flush()


def run_ids(client, seed, **kwargs):
    return {r.id for r in client.list_runs(project_name=seed.project, **kwargs)}


def assert_selects(client, seed, expected_labels, **kwargs):
    got = run_ids(client, seed, **kwargs)
    assert seed.labels(got) == sorted(expected_labels), f"list_runs({kwargs})"


# ---------------------------------------------------------------------------------------------
# list_runs(filter=...)


def test_metadata_pair_binds_to_one_entry(server, client, seed):
    # r3 holds "A1" under previous_assistant: not an A1 run
    assert_selects(client, seed, ["r1", "r1_retriever", "r1_generate", "r2", "r2_retriever",
                                  "r4", "r4_retriever"], filter=A1)
    assert_selects(client, seed, ["r1", "r2", "r4"], filter=A1, is_root=True)
    assert_selects(client, seed, ["r3", "r3_generate", "r5", "r5_retriever"], filter=A2)
    # the value alone matches any key
    assert_selects(client, seed, ["r1", "r2", "r3", "r4"], filter='eq(metadata_value, "A1")',
                   is_root=True)


def test_feedback_pair_binds_to_one_record(server, client, seed):
    # r2 has user_score 0 and helpfulness 1: not liked
    assert_selects(client, seed, ["r1", "r2_retriever", "r3", "r5"], filter=LIKED)
    assert_selects(client, seed, ["r2"], filter='and(eq(feedback_key, "user_score"), '
                                                 'eq(feedback_score, 0))')
    assert_selects(client, seed, ["r1", "r2", "r2_retriever", "r3", "r5"],
                   filter='has(feedback_key, "user_score")')
    # the score alone matches any key: r2's helpfulness 1 counts here
    assert_selects(client, seed, ["r1", "r2", "r2_retriever", "r3", "r5"],
                   filter="eq(feedback_score, 1)")


def test_liked_turns_of_one_assistant(server, client, seed):
    assert_selects(client, seed, ["r1", "r3", "r5"], filter=f"and(eq(is_root, true), {LIKED})")
    assert_selects(client, seed, ["r1"], filter=A1_LIKED_TURNS)
    assert_selects(client, seed, ["r1"], filter=f"and({A1}, {LIKED})", is_root=True)
    assert_selects(client, seed, ["r3", "r5"], filter=f"and({A2}, {LIKED})", is_root=True)
    # nested and()s keep each pair bound: A1 runs with any liked record
    assert_selects(client, seed, ["r1"], filter=f"and(eq(is_root, true), {A1}, {LIKED})")


def test_tags_errors_names_and_times(server, client, seed):
    assert_selects(client, seed, ["r1", "r3", "r4", "r5", "r5_retriever"],
                   filter='has(tags, "prod")')  # @traceable children inherit tags
    assert_selects(client, seed, ["r2", "r4"], filter='has(tags, "beta")')
    assert_selects(client, seed, ["r4"], filter='and(has(tags, "prod"), has(tags, "beta"))')
    assert_selects(client, seed, ["r2", "r4"],
                   filter='or(has(tags, "beta"), eq(name, "nonexistent"))')
    assert_selects(client, seed, ["r4"], filter="neq(error, null)")
    assert_selects(client, seed, ["r1", "r2", "r3", "r5"], filter="eq(error, null)", is_root=True)
    assert_selects(client, seed, ["r4"], filter='eq(status, "error")')
    assert_selects(client, seed, ["r1_retriever", "r2_retriever", "r4_retriever", "r5_retriever"],
                   filter='eq(name, "retriever")')
    assert_selects(client, seed, ["r1_generate", "r3_generate"],
                   filter='and(eq(run_type, "llm"), not(eq(is_root, true)))')
    after = (seed.base + timedelta(seconds=25)).isoformat()
    assert_selects(client, seed, ["r4", "r4_retriever", "r5", "r5_retriever"],
                   filter=f'gt(start_time, "{after}")')


def test_latency(server, client, seed):
    assert_selects(client, seed, ["r1", "r4"], filter="gt(latency, 1.5)")
    assert_selects(client, seed, ["r1"], filter="and(gt(latency, 1.5), lt(latency, 3))")
    # the boundaries are exact: r3 took 1.0 s, r1 2.0 s
    assert_selects(client, seed, ["r1", "r1_generate", "r3"],
                   filter="and(gte(latency, 1), lte(latency, 2))")
    assert_selects(client, seed, ["r1_generate"], filter="and(gt(latency, 1), lt(latency, 2))")
    assert_selects(client, seed, ["r2_retriever", "r5_retriever"],
                   filter='and(lt(latency, 0.15), eq(run_type, "retriever"))')


def test_trace_filter_and_tree_filter(server, client, seed):
    # retrievers whose trace root was liked (r2_retriever is liked itself, its root is not)
    assert_selects(client, seed, ["r1_retriever", "r5_retriever"], filter='eq(name, "retriever")',
                   trace_filter=LIKED)
    # roots of traces with a retriever run anywhere
    assert_selects(client, seed, ["r1", "r2", "r4", "r5"], is_root=True,
                   tree_filter='eq(name, "retriever")')
    assert_selects(client, seed, ["r1", "r2", "r4"], is_root=True, filter=A1,
                   tree_filter='eq(name, "retriever")')
    # every run of traces whose root failed
    assert_selects(client, seed, ["r4", "r4_retriever"], trace_filter="neq(error, null)")


def test_search_and_free_text_query(server, client, seed):
    assert_selects(client, seed, ["r1"], filter='search("CAPITAL of france")')  # inputs
    assert_selects(client, seed, ["r2", "r2_retriever"], filter='search("rain")')  # outputs
    assert_selects(client, seed, ["r4"], filter='search("Upstream Timeout")')  # error
    assert_selects(client, seed, ["r1_retriever", "r2_retriever", "r4_retriever", "r5_retriever"],
                   filter='search("retriev")')  # name
    assert_selects(client, seed, ["r2", "r2_retriever"], query="oslo")
    assert_selects(client, seed, ["r2"], query="OSLO", is_root=True)
    assert_selects(client, seed, ["r1", "r1_retriever"], query="capital", filter=A1)
    assert_selects(client, seed, [], query="no such words anywhere")


def test_threads(server, client, seed):
    assert_selects(client, seed, ["r1", "r1_retriever", "r1_generate", "r2", "r2_retriever"],
                   filter='eq(thread_id, "t-1")')
    turns = list(client.read_thread(thread_id="t-1", project_name=seed.project))
    assert [r.id for r in turns] == [seed.r1, seed.r2]  # roots, oldest first
    liked = list(client.read_thread(thread_id="t-1", project_name=seed.project, filter=LIKED))
    assert [r.id for r in liked] == [seed.r1]
    threads = {t["thread_id"]: t for t in client.list_threads(project_name=seed.project)}
    assert sorted(threads) == ["t-1", "t-2"]
    assert [r.id for r in threads["t-1"]["runs"]] == [seed.r1, seed.r2]
    assert threads["t-1"]["count"] == 2
    assert [r.id for r in threads["t-2"]["runs"]] == [seed.r3]
    a2 = client.list_threads(project_name=seed.project, filter=A2)
    assert [t["thread_id"] for t in a2] == ["t-2"]


# ---------------------------------------------------------------------------------------------
# errors


def query_error(client, seed, **kwargs) -> str:
    """list_runs(**kwargs) raises a LangSmithError for the server's 400; returns the `detail` of the
    error body the server sent (recorded on the client's session), after checking that the message
    the app sees carries it too."""
    rec = Recorder(client)
    with pytest.raises(LangSmithError) as info:
        list(client.list_runs(project_name=seed.project, **kwargs))
    # 400 maps to the generic LangSmithError, not one of the subclasses for other statuses
    assert not isinstance(info.value, (LangSmithNotFoundError, LangSmithAuthError,
                                       LangSmithConflictError)), repr(info.value)
    (call,) = [c for c in rec.find("POST", "/runs/query") if c.status != 200]
    assert call.status == 400, call
    detail = json.loads(call.response_body)["detail"]
    message = str(info.value)
    assert "400 Client Error" in message, message
    # the SDK's message embeds repr() of an HTTPError holding the body: the body, quotes escaped
    assert repr(call.response_body.decode()) in message, message
    assert "at offset" in message, message
    return detail


def test_bad_filters_are_400_with_position(server, client, seed):
    detail = query_error(client, seed, filter='eq(name, "x"')
    assert detail == "filter: expected ',' or ')', found the end at offset 12"

    detail = query_error(client, seed, filter='neq(tags, "x")')
    assert detail.startswith("filter: comparator neq is not accepted for attribute tags"), detail
    assert detail.endswith("at offset 0"), detail

    detail = query_error(client, seed, filter='eq(name, "retriever")', trace_filter="eq(name,)")
    assert detail.startswith("trace_filter: "), detail
    assert detail.endswith("at offset 8"), detail

    detail = query_error(client, seed, is_root=True, tree_filter='and(eq(nme, "x"))')
    assert detail == 'tree_filter: unknown attribute "nme" in eq() at offset 4', detail


def test_bad_filter_raw_and_validate(server, seed):
    headers = {"x-api-key": API_KEY}
    for prefix in ("", "/api", "/api/v1"):
        response = requests.post(f"{server.url}{prefix}/runs/query", headers=headers,
                                 json={"session": [str(seed.project_id)], "filter": 'eq(name, "x"'})
        assert response.status_code == 400, response.text
        assert response.json() == {
            "detail": "filter: expected ',' or ')', found the end at offset 12"
        }
    response = requests.post(f"{server.url}/runs/stats", headers=headers,
                             json={"session": [str(seed.project_id)], "filter": 'eq(name, "x"'})
    assert response.status_code == 400, response.text
    assert "at offset 12" in response.json()["detail"]

    response = requests.post(f"{server.url}/runs/query/validate", headers=headers,
                             json={"filter": 'neq(tags, "x")', "trace_filter": LIKED})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["valid"] is False
    assert [e["field"] for e in body["errors"]] == ["filter"]
    assert "comparator neq is not accepted for attribute tags" in body["errors"][0]["message"]
    response = requests.post(f"{server.url}/runs/query/validate", headers=headers,
                             json={"filter": A1_LIKED_TURNS, "tree_filter": 'eq(name, "retriever")'})
    assert response.json() == {"valid": True, "errors": []}


# ---------------------------------------------------------------------------------------------
# stats and monitoring


def post_json(server, path, body):
    response = requests.post(f"{server.url}{path}", headers={"x-api-key": API_KEY},
                             data=json.dumps(body, default=str),
                             timeout=30)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
    return response.json()


def test_run_stats(server, client, seed):
    session = [str(seed.project_id)]
    everything = post_json(server, "/runs/stats", {"session": session})
    assert everything["run_count"] == TOTAL_RUNS
    assert everything["feedback_stats"]["user_score"]["n"] == 5
    assert everything["feedback_stats"]["user_score"]["avg"] == pytest.approx(0.8)

    a1_turns = post_json(server, "/runs/stats", {"session": session, "is_root": True, "filter": A1})
    assert a1_turns["run_count"] == 3
    assert a1_turns["feedback_stats"]["user_score"]["n"] == 2
    assert a1_turns["feedback_stats"]["user_score"]["avg"] == pytest.approx(0.5)
    assert a1_turns["feedback_stats"]["helpfulness"]["n"] == 1
    assert a1_turns["error_rate"] == pytest.approx(1 / 3)

    liked = post_json(server, "/api/v1/runs/stats", {"session": session, "filter": A1_LIKED_TURNS})
    assert liked["run_count"] == 1
    score = liked["feedback_stats"]["user_score"]
    assert (score["n"], score["avg"], score["min"], score["max"]) == (1, 1.0, 1.0, 1.0)

    retrievers = post_json(server, "/runs/stats", {"session": session,
                                                   "filter": 'eq(name, "retriever")',
                                                   "trace_filter": LIKED})
    assert retrievers["run_count"] == 2
    # the selected runs' own feedback: the two retrievers have none
    assert "user_score" not in retrievers["feedback_stats"]

    searched = post_json(server, "/runs/stats", {"session": session, "query": "oslo"})
    assert searched["run_count"] == 2

    # the SDK's get_run_stats sends the same body
    sdk = client.get_run_stats(project_ids=[seed.project_id], is_root=True, filter=A1)
    assert sdk["run_count"] == 3
    assert sdk["feedback_stats"]["user_score"]["n"] == 2
    sdk = client.get_run_stats(project_ids=[seed.project_id], is_root=True,
                               tree_filter='eq(name, "retriever")')
    assert sdk["run_count"] == 4


def test_run_monitor(server, seed):
    session = [str(seed.project_id)]
    start = (seed.base - timedelta(hours=1)).isoformat()
    body = post_json(server, "/runs/monitor",
                     {"session": session, "stride": {"hours": 1}, "start_time": start})
    assert body["stride_seconds"] == 3600
    buckets = body["buckets"]
    # [base - 1h, base) and [base, base + 1h): every run started at or after base (r1 exactly)
    assert len(buckets) == 2, buckets
    assert [b["run_count"] for b in buckets] == [0, TOTAL_RUNS]
    assert sum(b["run_count"] for b in buckets) == TOTAL_RUNS
    assert datetime.fromisoformat(buckets[1]["start_time"].replace("Z", "+00:00")) == seed.base

    a1 = post_json(server, "/runs/monitor", {"session": session, "stride": {"hours": 1},
                                             "start_time": start, "is_root": True, "filter": A1})
    assert sum(b["run_count"] for b in a1["buckets"]) == 3
    last = a1["buckets"][-1]
    assert last["feedback_stats"]["user_score"]["n"] == 2
    assert last["feedback_stats"]["user_score"]["avg"] == pytest.approx(0.5)

    liked = post_json(server, "/runs/monitor", {"session": session, "stride": {"minutes": 30},
                                                "start_time": start, "filter": A1_LIKED_TURNS})
    assert sum(b["run_count"] for b in liked["buckets"]) == 1
