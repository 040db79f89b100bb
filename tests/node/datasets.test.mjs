// The official JS SDK (langsmith 0.8.3) builds datasets (examples go through the multipart
// platform endpoint, its only path) and rates runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Client } from "langsmith";

const url = process.env.LOOPSMITH_URL;

test("datasets, examples and feedback", { skip: !url && "LOOPSMITH_URL is not set" }, async () => {
  const client = new Client({ apiUrl: url, apiKey: "test-key" });
  const name = `js-ds-${randomUUID().slice(0, 8)}`;
  const dataset = await client.createDataset(name, { description: "from js" });
  assert.equal(dataset.name, name);
  await client.createExamples([
    { inputs: { q: "1+1" }, outputs: { a: "2" }, dataset_id: dataset.id, split: "train" },
    { inputs: { q: "2+2" }, outputs: { a: "4" }, dataset_id: dataset.id },
  ]);
  const examples = [];
  for await (const example of client.listExamples({ datasetId: dataset.id })) examples.push(example);
  assert.equal(examples.length, 2);
  assert.deepEqual(examples.map((e) => e.inputs.q).sort(), ["1+1", "2+2"]);
  const train = [];
  for await (const example of client.listExamples({ datasetId: dataset.id, splits: ["train"] })) train.push(example);
  assert.equal(train.length, 1);
  assert.equal(train[0].outputs.a, "2");

  const read = await client.readDataset({ datasetName: name });
  assert.equal(read.id, dataset.id);
  assert.equal(read.example_count, 2);

  const runId = randomUUID();
  const feedback = await client.createFeedback(runId, "thumbs", { score: 1, comment: "good" });
  const stored = await client.readFeedback(feedback.id);
  assert.equal(stored.score, 1);
  assert.equal(stored.run_id, runId);
});
