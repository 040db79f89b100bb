// The official JS SDK (langsmith 0.8.3: streamed, gzip-compressed multipart) traces into
// Loopsmith; the trace is read back over plain HTTP, not through the SDK's reading helpers.
//
// What 0.8.3 really sends for the functions below (checked against its dist/ sources):
// - one object argument is the inputs as is ({x: 2}); one non-object argument becomes
//   {input: n}; several arguments become {args: [...]}; a non-object return value becomes
//   {outputs: value};
// - a thrown error becomes the string "Error: <message>";
// - a child inherits its parent's metadata;
// - start_time is an ISO string whose microseconds are the execution order, end_time is epoch
//   milliseconds;
// - a run that ends within the 250 ms batching window travels as one merged `post.<id>` part;
//   the outer run here outlives it, so its end arrives later as `patch.<id>` parts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Client } from "langsmith";
import { traceable } from "langsmith/traceable";

const url = process.env.LOOPSMITH_URL?.replace(/\/+$/, "");
const skip = !url && "LOOPSMITH_URL is not set (e.g. LOOPSMITH_URL=http://127.0.0.1:1984); start a Loopsmith server to run this test";

async function http(path, body) {
  const response = await fetch(`${url}${path}`, body === undefined ? {} : {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  assert.equal(response.status, 200, `${path} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

async function eventually(read, ready, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await read();
      if (ready(last)) return last;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`condition not met within ${timeoutMs} ms; last value: ${last instanceof Error ? last.stack : JSON.stringify(last)}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("nested traceable functions arrive as one tree", { skip }, async () => {
  const client = new Client({ apiUrl: url, apiKey: "test-key" });
  const project = `node-trace-${randomUUID()}`;
  const config = { client, tracingEnabled: true, project_name: project };

  const inner = traceable(async (n, label) => {
    if (n < 0) throw new Error(`negative input ${label}`);
    return n * 2;
  }, { ...config, name: "inner", run_type: "tool", tags: ["leaf"], metadata: { level: 3 } });
  const middle = traceable(async (n) => {
    try {
      return await inner(n, `n=${n}`);
    } catch {
      return "recovered";
    }
  }, { ...config, name: "middle", run_type: "llm", tags: ["mid"], metadata: { level: 2 } });
  const outer = traceable(async ({ x }) => {
    const results = [await middle(x), await middle(-x)];
    // Outlive the SDK's 250 ms batching window, so that this run's end travels as a patch.
    await sleep(600);
    return { results };
  }, { ...config, name: "outer", run_type: "chain", tags: ["top"], metadata: { assistant_id: "a-js", level: 1 } });

  const before = Date.now();
  const result = await outer({ x: 2 });
  const after = Date.now();
  assert.deepEqual(result, { results: [4, "recovered"] });
  await client.awaitPendingTraceBatches();

  const projects = await eventually(
    () => http(`/sessions?name=${encodeURIComponent(project)}`),
    (p) => Array.isArray(p) && p.length === 1,
  );
  const projectId = projects[0].id;
  assert.ok(projectId, "the project has an id");
  assert.equal(projects[0].name, project);
  const page = await eventually(
    () => http("/runs/query", { session: [projectId], limit: 100 }),
    (p) => Array.isArray(p.runs) && p.runs.length >= 5 && p.runs.every((r) => r.end_time),
  );
  assert.equal(typeof page.cursors, "object");
  const runs = page.runs;
  assert.equal(runs.length, 5, `runs: ${runs.map((r) => r.name).join(", ")}`);

  // One root; everything in its trace; parents link into a three-level tree.
  const roots = runs.filter((r) => r.parent_run_id === null || r.parent_run_id === undefined);
  assert.equal(roots.length, 1);
  const root = roots[0];
  assert.equal(root.name, "outer");
  assert.equal(root.run_type, "chain");
  const byId = new Map(runs.map((r) => [r.id, r]));
  for (const run of runs) {
    assert.equal(run.trace_id, root.id, `${run.name} is in the root's trace`);
    assert.equal(run.session_id, projectId);
    if (run !== root) {
      const parent = byId.get(run.parent_run_id);
      assert.ok(parent, `parent of ${run.name} is in the trace`);
      assert.ok(
        run.dotted_order.startsWith(`${parent.dotted_order}.`),
        `${run.dotted_order} extends ${parent.dotted_order}`,
      );
    }
    // Times: start_time went as an ISO string, end_time as epoch milliseconds.
    const start = Date.parse(run.start_time);
    const end = Date.parse(run.end_time);
    assert.ok(Number.isFinite(start) && Number.isFinite(end), `${run.name} times parse: ${run.start_time} ${run.end_time}`);
    assert.ok(start >= before - 1 && end <= after + 1, `${run.name} times lie within the call`);
    assert.ok(end >= start, `${run.name} ends after it starts (ms precision)`);
  }
  assert.ok(!root.dotted_order.includes("."));
  assert.ok(root.dotted_order.endsWith(root.id));

  const middles = runs.filter((r) => r.name === "middle");
  assert.equal(middles.length, 2);
  const inners = runs.filter((r) => r.name === "inner");
  assert.equal(inners.length, 2);
  for (const m of middles) {
    assert.equal(m.parent_run_id, root.id);
    assert.equal(m.run_type, "llm");
    assert.equal(m.dotted_order.split(".").length, 2);
  }
  for (const i of inners) {
    assert.ok(middles.some((m) => m.id === i.parent_run_id), "inner hangs under a middle");
    assert.equal(i.run_type, "tool");
    assert.equal(i.dotted_order.split(".").length, 3);
    assert.ok(i.dotted_order.startsWith(`${root.dotted_order}.`));
  }

  // Statuses and the error.
  const failed = runs.filter((r) => r.error);
  assert.equal(failed.length, 1);
  const failing = failed[0];
  assert.equal(failing.name, "inner");
  assert.equal(failing.status, "error");
  assert.match(failing.error, /negative input n=-2/);
  assert.deepEqual(failing.inputs, { args: [-2, "n=-2"] });
  assert.ok(failing.outputs === null || failing.outputs === undefined || Object.keys(failing.outputs).length === 0);
  for (const run of runs.filter((r) => r !== failing)) {
    assert.equal(run.status, "success", `${run.name} succeeded`);
    assert.ok(!run.error, `${run.name} has no error`);
  }

  // Inputs and outputs as the SDK wrapped them.
  assert.deepEqual(root.inputs, { x: 2 });
  assert.deepEqual(root.outputs, { results: [4, "recovered"] });
  const okMiddle = middles.find((m) => m.inputs.input === 2);
  const recoveredMiddle = middles.find((m) => m.inputs.input === -2);
  assert.ok(okMiddle && recoveredMiddle, `middle inputs: ${JSON.stringify(middles.map((m) => m.inputs))}`);
  assert.deepEqual(okMiddle.inputs, { input: 2 });
  assert.deepEqual(okMiddle.outputs, { outputs: 4 });
  assert.deepEqual(recoveredMiddle.outputs, { outputs: "recovered" });
  assert.equal(failing.parent_run_id, recoveredMiddle.id);
  const okInner = inners.find((i) => i !== failing);
  assert.equal(okInner.parent_run_id, okMiddle.id);
  assert.deepEqual(okInner.inputs, { args: [2, "n=2"] });
  assert.deepEqual(okInner.outputs, { outputs: 4 });

  // Metadata (children inherit their parents') and tags.
  assert.equal(root.extra.metadata.assistant_id, "a-js");
  assert.equal(root.extra.metadata.level, 1);
  assert.equal(root.extra.runtime.sdk, "langsmith-js");
  for (const m of middles) {
    assert.equal(m.extra.metadata.level, 2);
    assert.equal(m.extra.metadata.assistant_id, "a-js");
  }
  for (const i of inners) assert.equal(i.extra.metadata.level, 3);
  assert.deepEqual(root.tags, ["top"]);
  for (const m of middles) assert.ok(m.tags.includes("mid"), `middle tags ${m.tags}`);
  for (const i of inners) assert.ok(i.tags.includes("leaf"), `inner tags ${i.tags}`);
});
