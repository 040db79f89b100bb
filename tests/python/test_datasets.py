"""Datasets, examples, versions and splits through the official SDK (JSON example endpoints)."""

import time
import uuid

import pytest
from langsmith.schemas import DataType
from langsmith.utils import LangSmithConflictError, LangSmithError, LangSmithNotFoundError


def test_dataset_lifecycle(client):
    name = f"ds-{uuid.uuid4().hex[:8]}"
    ds = client.create_dataset(name, description="good turns", data_type=DataType.kv, metadata={"assistant": "a1"})
    assert ds.name == name
    assert client.has_dataset(dataset_name=name)
    with pytest.raises(LangSmithConflictError):
        client.create_dataset(name)
    assert client.read_dataset(dataset_name=name).id == ds.id
    read = client.read_dataset(dataset_id=ds.id)
    assert read.description == "good turns"
    assert read.metadata["assistant"] == "a1"
    assert name in [d.name for d in client.list_datasets(dataset_name_contains=name[:7])]
    client.delete_dataset(dataset_id=ds.id)
    assert not client.has_dataset(dataset_name=name)
    with pytest.raises(LangSmithNotFoundError):
        client.read_dataset(dataset_id=ds.id)


def test_examples_versions_and_splits(client):
    ds = client.create_dataset(f"ex-{uuid.uuid4().hex[:8]}")
    a = client.create_example(inputs={"q": "a"}, outputs={"answer": "A"}, dataset_id=ds.id,
                              metadata={"source": "feedback"}, split="train")
    v1 = client.read_example(a.id).modified_at
    time.sleep(0.01)
    client.create_examples(dataset_id=ds.id, inputs=[{"q": "b"}, {"q": "c"}], outputs=[{"answer": "B"}, None],
                           splits=[["test"], None])
    assert len(list(client.list_examples(dataset_id=ds.id))) == 3
    client.update_example(a.id, outputs={"answer": "A!"})
    assert client.read_example(a.id).outputs == {"answer": "A!"}
    assert client.read_example(a.id).inputs == {"q": "a"}, "a partial update keeps inputs"

    # The dataset as it was at the first version: only "a", with its first outputs.
    old = list(client.list_examples(dataset_id=ds.id, as_of=v1))
    assert [e.inputs for e in old] == [{"q": "a"}]
    assert old[0].outputs == {"answer": "A"}

    versions = list(client.list_dataset_versions(dataset_id=ds.id))
    assert len(versions) == 3
    client.update_dataset_tag(dataset_id=ds.id, as_of=versions[-1].as_of, tag="prod")
    tagged = list(client.list_examples(dataset_id=ds.id, as_of="prod"))
    assert [e.inputs for e in tagged] == [{"q": "a"}]
    assert client.read_dataset_version(dataset_id=ds.id, tag="prod").as_of == versions[-1].as_of

    diff = client.diff_dataset_versions(dataset_id=ds.id, from_version=versions[-1].as_of, to_version="latest")
    assert diff.examples_modified == [a.id]
    assert len(diff.examples_added) == 2
    assert diff.examples_removed == []

    assert sorted(client.list_dataset_splits(dataset_id=ds.id)) == ["base", "test", "train"]
    train = list(client.list_examples(dataset_id=ds.id, splits=["train"]))
    assert [e.id for e in train] == [a.id]
    c = next(e for e in client.list_examples(dataset_id=ds.id) if e.inputs == {"q": "c"})
    assert c.outputs is None
    client.update_dataset_splits(dataset_id=ds.id, split_name="train", example_ids=[c.id])
    assert len(list(client.list_examples(dataset_id=ds.id, splits=["train"]))) == 2

    client.delete_example(a.id)
    assert len(list(client.list_examples(dataset_id=ds.id))) == 2
    # Deleted now, still there in the tagged version.
    assert [e.id for e in client.list_examples(dataset_id=ds.id, as_of="prod")] == [a.id]
    assert client.read_dataset(dataset_id=ds.id).example_count == 2


def test_example_from_a_traced_run(client, project):
    from langsmith import traceable
    from langsmith.run_helpers import tracing_context

    from conftest import wait_for

    @traceable
    def answer(question):
        return {"answer": "42"}

    run_id = uuid.uuid4()
    with tracing_context(client=client, project_name=project, enabled=True):
        answer("meaning of life?", langsmith_extra={"run_id": run_id})
    client.flush()
    run = wait_for(lambda: client.read_run(run_id))
    ds = client.create_dataset(f"fromrun-{uuid.uuid4().hex[:8]}")
    example = client.create_example_from_run(run, dataset_id=ds.id)
    stored = client.read_example(example.id)
    assert stored.inputs == {"question": "meaning of life?"}
    assert stored.outputs == {"answer": "42"}
    # The 0.10.5 SDK does not send the run id from create_example_from_run; create_example
    # with source_run_id keeps the link to the trace.
    linked = client.create_example(inputs=run.inputs, outputs=run.outputs, dataset_id=ds.id,
                                   source_run_id=run_id)
    assert client.read_example(linked.id).source_run_id == run_id


def test_examples_are_checked_against_dataset_schemas(client):
    ds = client.create_dataset(
        f"typed-{uuid.uuid4().hex[:8]}",
        inputs_schema={"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]},
        outputs_schema={"type": "object", "required": ["answer"]},
    )
    assert client.read_dataset(dataset_id=ds.id).inputs_schema["required"] == ["question"]
    client.create_example(inputs={"question": "ok"}, outputs={"answer": "yes"}, dataset_id=ds.id)
    with pytest.raises(LangSmithError) as refused:
        client.create_example(inputs={"question": 42}, outputs={"answer": "no"}, dataset_id=ds.id)
    assert "question" in str(refused.value)
    with pytest.raises(LangSmithError):
        client.create_examples(dataset_id=ds.id, inputs=[{"question": "fine"}, {"q": "wrong"}],
                               outputs=[{"answer": "a"}, {"answer": "b"}])
    assert len(list(client.list_examples(dataset_id=ds.id))) == 1, "a refused batch adds nothing"


def test_exports_for_fine_tuning(client, server):
    ds = client.create_dataset(f"ft-{uuid.uuid4().hex[:8]}", data_type=DataType.chat)
    client.create_chat_example(
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "capital of France?"}],
        generations={"role": "assistant", "content": "Paris"},
        dataset_id=ds.id,
    )
    records = client.read_dataset_openai_finetuning(dataset_id=ds.id)
    assert len(records) == 1
    roles = [m["role"] for m in records[0]["messages"]]
    assert roles == ["system", "user", "assistant"]
    assert records[0]["messages"][-1]["content"] == "Paris"

    import csv, io, json
    import requests
    text = requests.get(f"{server.url}/datasets/{ds.id}/export", params={"format": "jsonl"}).text
    (line,) = [json.loads(l) for l in text.splitlines()]
    assert line["outputs"]["output"]["content"] == "Paris"
    table = requests.get(f"{server.url}/datasets/{ds.id}/export", params={"format": "csv"}).text
    header = next(csv.reader(io.StringIO(table)))
    assert header == ["id", "inputs.input", "outputs.output"]


def test_csv_and_dataframe_upload(client, tmp_path):
    path = tmp_path / "turns.csv"
    path.write_text('question,answer,note\nhi,hello,x\n"a, b",c,y\n')
    name = f"csv-{uuid.uuid4().hex[:8]}"
    ds = client.upload_csv(str(path), input_keys=["question"], output_keys=["answer"], name=name,
                           description="from csv")
    assert ds.name == name
    examples = sorted(client.list_examples(dataset_id=ds.id), key=lambda e: e.inputs["question"])
    assert [(e.inputs, e.outputs) for e in examples] == [
        ({"question": "a, b"}, {"answer": "c"}),
        ({"question": "hi"}, {"answer": "hello"}),
    ]
    with pytest.raises(LangSmithConflictError):
        client.upload_csv(str(path), input_keys=["question"], output_keys=["answer"], name=name)
    with pytest.raises(LangSmithError) as missing:
        client.upload_csv(str(path), input_keys=["nope"], output_keys=[], name=name + "-2")
    assert "nope" in str(missing.value)
    assert not client.has_dataset(dataset_name=name + "-2")


def test_examples_with_attachments(client):
    from langsmith.schemas import ExampleUpdateWithAttachments  # noqa: F401 - present in 0.10.5

    ds = client.create_dataset(f"files-{uuid.uuid4().hex[:8]}")
    example_id = uuid.uuid4()
    client.create_examples(dataset_id=ds.id, examples=[{
        "id": example_id,
        "inputs": {"question": "what is in the picture?"},
        "outputs": {"answer": "a cat"},
        "attachments": {"image": ("image/png", b"\x89PNGcat"), "notes": ("text/plain", b"n1")},
    }])
    (example,) = client.list_examples(dataset_id=ds.id, include_attachments=True)
    assert sorted(example.attachments) == ["image", "notes"]
    assert example.attachments["image"]["reader"].read() == b"\x89PNGcat"
    assert example.attachments["image"]["mime_type"] == "image/png"
    v1 = client.read_example(example_id).modified_at

    # Keep "image" under a new name, drop "notes", add "audio"; inputs untouched.
    client.update_examples(dataset_id=ds.id, updates=[{
        "id": example_id,
        "outputs": {"answer": "a black cat"},
        "attachments": {"audio": ("audio/wav", b"RIFF")},
        "attachments_operations": {"rename": {"image": "photo"}, "retain": []},
    }])
    updated = client.read_example(example_id)
    assert sorted(updated.attachments) == ["audio", "photo"]
    assert updated.attachments["photo"]["reader"].read() == b"\x89PNGcat"
    assert updated.inputs == {"question": "what is in the picture?"}
    assert updated.outputs == {"answer": "a black cat"}
    # The earlier version still has its own files.
    (old,) = client.list_examples(dataset_id=ds.id, as_of=v1, include_attachments=True)
    assert sorted(old.attachments) == ["image", "notes"]

    client.delete_examples(example_ids=[example_id], hard_delete=True)
    assert list(client.list_examples(dataset_id=ds.id)) == []
    assert list(client.list_examples(dataset_id=ds.id, as_of=v1)) == []


def test_metadata_filters(client):
    tag = uuid.uuid4().hex[:8]
    a = client.create_dataset(f"meta-a-{tag}", metadata={"assistant": "a1", "team": tag})
    client.create_dataset(f"meta-b-{tag}", metadata={"assistant": "a2", "team": tag})
    found = list(client.list_datasets(metadata={"assistant": "a1", "team": tag}))
    assert [d.id for d in found] == [a.id]
    assert len(list(client.list_datasets(metadata={"team": tag}))) == 2
    client.create_examples(dataset_id=a.id, inputs=[{"i": 1}, {"i": 2}, {"i": 3}],
                           metadata=[{"rating": "up", "turn": 1}, {"rating": "down"}, {"rating": "up"}])
    ups = list(client.list_examples(dataset_id=a.id, metadata={"rating": "up"}))
    assert sorted(e.inputs["i"] for e in ups) == [1, 3]
    # The example filter language.
    found = list(client.list_examples(dataset_id=a.id, filter='has(metadata, \'{"rating": "up"}\')'))
    assert sorted(e.inputs["i"] for e in found) == [1, 3]
    found = list(client.list_examples(dataset_id=a.id, filter='and(exists(metadata, "rating"), not(exists(metadata, "turn")))'))
    assert sorted(e.inputs["i"] for e in found) == [2, 3]
    found = list(client.list_examples(dataset_id=a.id, filter='or(eq(metadata.turn, 1), eq(metadata.rating, "down"))'))
    assert sorted(e.inputs["i"] for e in found) == [1, 2]
    with pytest.raises(LangSmithError):
        list(client.list_examples(dataset_id=a.id, filter="gt(metadata.turn, 0)"))


def test_share_and_clone_a_dataset(client):
    ds = client.create_dataset(f"shared-{uuid.uuid4().hex[:8]}", description="public set")
    client.create_examples(dataset_id=ds.id, inputs=[{"q": "1"}, {"q": "2"}], outputs=[{"a": "1"}, {"a": "2"}])
    share = client.share_dataset(dataset_id=ds.id)
    token = share["share_token"]
    assert client.read_dataset_shared_schema(dataset_id=ds.id)["share_token"] == token
    assert client.share_dataset(dataset_id=ds.id)["share_token"] == token, "sharing twice keeps the token"
    shared = client.read_shared_dataset(token)
    assert shared.id == ds.id
    assert sorted(e.inputs["q"] for e in client.list_shared_examples(token)) == ["1", "2"]

    clone_name = f"clone-{uuid.uuid4().hex[:8]}"
    clone = client.clone_public_dataset(token, dataset_name=clone_name)
    assert clone.name == clone_name
    assert clone.id != ds.id
    assert sorted(e.outputs["a"] for e in client.list_examples(dataset_id=clone.id)) == ["1", "2"]

    client.unshare_dataset(dataset_id=ds.id)
    with pytest.raises(LangSmithNotFoundError):
        client.read_shared_dataset(token)


def test_upload_dataframe(client):
    import pandas as pd

    frame = pd.DataFrame({"question": ["hi", "bye"], "answer": ["hello", "goodbye"], "ignored": [1, 2]})
    name = f"df-{uuid.uuid4().hex[:8]}"
    ds = client.upload_dataframe(frame, name=name, input_keys=["question"], output_keys=["answer"],
                                 description="from pandas")
    assert ds.name == name
    rows = sorted((e.inputs["question"], e.outputs["answer"]) for e in client.list_examples(dataset_id=ds.id))
    assert rows == [("bye", "goodbye"), ("hi", "hello")]
