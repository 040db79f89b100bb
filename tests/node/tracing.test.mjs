// The official JS SDK (langsmith 0.8.3, streamed multipart) traces into Loopsmith; the trace is
// read back over plain HTTP.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Client } from "langsmith";
import { traceable } from "langsmith/traceable";

const url = process.env.LOOPSMITH_URL;

async function http(path, body) {
  const response = await fetch(`${url}${path}`, body === undefined ? {} : {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200, `${path} answered ${response.status}`);
  return response.json();
}

async function eventually(read, ready, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await read();
    if (ready(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`condition not met; last value: ${JSON.stringify(last)}`);
}

test("nested traceable functions arrive as one tree", { skip: !url && "LOOPSMITH_URL is not set" }, async () => {
  const client = new Client({ apiUrl: url, apiKey: "test-key" });
  const project = `node-${randomUUID().slice(0, 8)}`;
  const config = { client, tracingEnabled: true, project_name: project };

  const inner = traceable(async (x) => {
    if (x < 0) throw new Error("negative input");
    return { doubled: x * 2 };
  }, { ...config, name: "inner", run_type: "tool", tags: ["leaf"] });
  const middle = traceable(async (x) => {
    try {
      return await inner(x);
    } catch {
      return { doubled: null };
    }
  }, { ...config, name: "middle", run_type: "llm" });
  const outer = traceable(async (input) => {
    return { results: [await middle(input.a), await middle(input.b)] };
  }, { ...config, name: "outer", run_type: "chain", tags: ["top"], metadata: { assistant_id: "a-js" } });

  const result = await outer({ a: 3, b: -1 });
  assert.deepEqual(result, { results: [{ doubled: 6 }, { doubled: null }] });
  await client.awaitPendingTraceBatches();

  const projects = await eventually(() => http(`/sessions?name=${project}`), (p) => p.length === 1);
  const projectId = projects[0].id;
  const page = await eventually(
    () => http("/runs/query", { session: [projectId], limit: 100 }),
    (p) => p.runs.length >= 5 && p.runs.every((r) => r.end_time),
  );
  const runs = page.runs;
  assert.equal(runs.length, 5);
  const roots = runs.filter((r) => r.parent_run_id === null);
  assert.equal(roots.length, 1);
  const root = roots[0];
  assert.equal(root.name, "outer");
  assert.deepEqual(root.inputs, { a: 3, b: -1 });
  assert.deepEqual(root.outputs, { results: [{ doubled: 6 }, { doubled: null }] });
  assert.equal(root.extra.metadata.assistant_id, "a-js");
  assert.ok(root.tags.includes("top"));
  assert.equal(root.status, "success");
  const byId = new Map(runs.map((r) => [r.id, r]));
  for (const run of runs) {
    assert.equal(run.trace_id, root.id);
    if (run.parent_run_id) {
      const parent = byId.get(run.parent_run_id);
      assert.ok(parent, `parent of ${run.name} is in the trace`);
      assert.ok(run.dotted_order.startsWith(parent.dotted_order + "."));
    }
  }
  const middles = runs.filter((r) => r.name === "middle");
  assert.equal(middles.length, 2);
  assert.ok(middles.every((m) => m.parent_run_id === root.id && m.run_type === "llm"));
  const inners = runs.filter((r) => r.name === "inner");
  assert.ok(inners.every((r) => middles.some((m) => m.id === r.parent_run_id)));
  const failed = inners.filter((r) => r.error);
  assert.equal(failed.length, 1);
  assert.equal(failed[0].status, "error");
  assert.match(failed[0].error, /negative input/);
  const ok = inners.find((r) => !r.error);
  assert.equal(ok.status, "success");
  assert.deepEqual(ok.outputs, { doubled: 6 });
  assert.ok(ok.tags.includes("leaf"));
});
