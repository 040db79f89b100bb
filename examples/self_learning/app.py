"""A self-learning assistant on Loopsmith: trace -> thumbs -> rule -> dataset -> few-shot prompt.

Every turn is traced; the user's thumbs up/down is feedback on the turn's root run. A run rule
per assistant copies its thumbs-up turns into its dataset, and the assistant's next prompt takes
its few-shot examples from that dataset. `main()` plays a scripted session and checks the loop
closed, so the script doubles as a smoke test (exit status 1 when it did not).

Needs a running Loopsmith (see README.md). Uses OpenAI when OPENAI_API_KEY is set, otherwise a
deterministic stand-in model.
"""

import json
import os
import sys
import time
import uuid

import requests
from langsmith import Client, traceable, tracing_context
from langsmith.schemas import DataType
from langsmith.utils import LangSmithNotFoundError

PROJECT = os.environ.get("LANGSMITH_PROJECT", "self-learning-demo")
FEW_SHOT = 4  # examples per prompt
WAIT_SECONDS = 15  # how long the rule worker gets to fill the datasets

# The scripted session: per assistant, its system prompt, the questions asked with the thumbs
# the user gives (1 up, 0 down), and a last question asked once the dataset has learned. Each
# assistant's last rated turn is a thumbs up: once it is in the dataset, the thumbs-down turns
# rated before it have had their chance to (wrongly) land there too, so checking for them means
# something.
SCRIPT = {
    "math-tutor": {
        "persona": "You are a patient math tutor. Answer in one or two sentences.",
        "turns": [
            ("What is 7 times 8?", 1),
            ("Is 1 a prime number?", 0),
            ("How do I add 1/2 and 1/3?", 1),
        ],
        "final": "What is 15% of 80?",
    },
    "travel-guide": {
        "persona": "You are a friendly travel guide. Answer in one or two sentences.",
        "turns": [
            ("When is the best time to visit Kyoto?", 1),
            ("Do I need a visa for a weekend in London?", 0),
            ("Which train goes from Paris to Nice?", 0),
            ("What should I eat in Lisbon?", 1),
        ],
        "final": "What is one thing to see in Porto?",
    },
}


class StandInModel:
    """A deterministic stand-in for a chat model, so the demo runs offline and reproducibly.

    Its answer names the question and how many rated examples the prompt carried, so the output
    visibly changes as the assistant's dataset grows.
    """

    def complete(self, messages: list[dict]) -> str:
        shots = sum(1 for m in messages[1:-1] if m["role"] == "user")
        question = messages[-1]["content"]
        return f"Stand-in answer to {question!r}, written with {shots} rated example(s) in prompt."


class OpenAIModel:
    """OpenAI chat completions over plain HTTP (no openai package needed)."""

    def __init__(self, api_key: str, model: str, base_url: str):
        self.api_key, self.model, self.base_url = api_key, model, base_url.rstrip("/")

    def complete(self, messages: list[dict]) -> str:
        response = requests.post(
            f"{self.base_url}/chat/completions",
            headers={"Authorization": f"Bearer {self.api_key}"},
            json={"model": self.model, "messages": messages},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()["choices"][0]["message"]["content"]


def pick_model():
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        return OpenAIModel(
            key,
            os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
            os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
        )
    return StandInModel()


def ensure_project(client: Client):
    """The project must exist before a rule can point at it (traces alone would create it later)."""
    try:
        return client.read_project(project_name=PROJECT)
    except LangSmithNotFoundError:
        return client.create_project(PROJECT)


def ensure_dataset(client: Client, name: str):
    if client.has_dataset(dataset_name=name):
        return client.read_dataset(dataset_name=name)
    # kv: an example keeps the root run's inputs and outputs as they are.
    return client.create_dataset(name, data_type=DataType.kv)


def ensure_rule(client: Client, project_id, assistant: str, dataset_id) -> dict:
    """One rule per assistant: its thumbs-up root runs go to its dataset.

    The SDK has no rules method, so this is raw HTTP against the same endpoint. Reusing a rule
    with the same name keeps reruns from stacking duplicate rules (and duplicate examples).
    """
    url = client.api_url.rstrip("/") + "/runs/rules"
    headers = {"x-api-key": client.api_key or ""}
    if os.environ.get("LANGSMITH_WORKSPACE_ID"):  # the SDK sends it too; stay in its workspace
        headers["x-tenant-id"] = os.environ["LANGSMITH_WORKSPACE_ID"]
    name = f"positive turns of {assistant}"
    listed = requests.get(url, params={"session_id": str(project_id)}, headers=headers, timeout=10)
    listed.raise_for_status()
    for rule in listed.json():
        if rule["display_name"] == name:
            return rule
    body = {
        "display_name": name,
        "session_id": str(project_id),
        "sampling_rate": 1.0,
        "filter": (
            'and(eq(is_root, true), eq(feedback_key, "thumbs"), eq(feedback_score, 1), '
            # A JSON string is a valid filter string literal.
            f'eq(metadata_key, "assistant_id"), eq(metadata_value, {json.dumps(assistant)}))'
        ),
        "add_to_dataset_id": str(dataset_id),
    }
    created = requests.post(url, json=body, headers=headers, timeout=10)
    if not created.ok:
        sys.exit(f"error: creating rule {name!r} failed: {created.status_code} {created.text}")
    return created.json()


class Assistant:
    def __init__(self, client: Client, project, name: str, persona: str, model):
        self.client, self.name, self.persona, self.model = client, name, persona, model
        self.dataset = ensure_dataset(client, f"{PROJECT}: {name} good turns")
        self.rule = ensure_rule(client, project.id, name, self.dataset.id)

    def prompt(self, question: str) -> list[dict]:
        """System prompt, then the dataset's rated turns as few-shot pairs, then the question."""
        messages = [{"role": "system", "content": self.persona}]
        for example in self.client.list_examples(dataset_id=self.dataset.id, limit=FEW_SHOT):
            messages.append({"role": "user", "content": example.inputs["question"]})
            messages.append({"role": "assistant", "content": example.outputs["answer"]})
        messages.append({"role": "user", "content": question})
        return messages

    def ask(self, question: str) -> tuple[uuid.UUID, str]:
        """Answers, returning the root run's id (chosen here, so feedback can name it)."""
        run_id = uuid.uuid4()
        out = self._turn(
            question,
            langsmith_extra={"run_id": run_id, "metadata": {"assistant_id": self.name}},
        )
        return run_id, out["answer"]

    # `self` is left out of the traced inputs, so the root run's inputs are {"question": ...}
    # and its outputs {"answer": ...}: exactly what the examples and prompt() use.
    @traceable(run_type="chain", name="assistant_turn")
    def _turn(self, question: str) -> dict:
        return {"answer": self._generate(self.prompt(question))}

    @traceable(run_type="llm", name="model")
    def _generate(self, messages: list[dict]) -> str:
        return self.model.complete(messages)


def wait_for_examples(assistants: dict, liked: dict) -> dict:
    """Polls until every assistant's dataset holds its thumbs-up runs; returns the examples."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        examples = {
            name: list(assistant.client.list_examples(dataset_id=assistant.dataset.id))
            for name, assistant in assistants.items()
        }
        missing = {
            name: liked[name] - {example.source_run_id for example in examples[name]}
            for name in examples
        }
        if not any(missing.values()):
            return examples
        if time.monotonic() > deadline:
            lines = [
                f"  {name}: runs {sorted(map(str, ids))}" for name, ids in missing.items() if ids
            ]
            sys.exit(
                f"error: after {WAIT_SECONDS}s the rule worker had not copied these thumbs-up "
                "turns into their datasets:\n" + "\n".join(lines)
            )
        time.sleep(0.5)


def main():
    client = Client(
        api_url=os.environ.get("LANGSMITH_ENDPOINT", "http://127.0.0.1:1984"),
        api_key=os.environ.get("LANGSMITH_API_KEY", "local"),
    )
    model = pick_model()
    print(f"endpoint {client.api_url}, project {PROJECT!r}, model {type(model).__name__}")
    project = ensure_project(client)
    assistants = {}
    for name, script in SCRIPT.items():
        assistants[name] = Assistant(client, project, name, script["persona"], model)
        print(f"{name}: dataset {assistants[name].dataset.id}, rule {assistants[name].rule['id']}")

    # Trace every turn into the project, whatever LANGSMITH_TRACING says.
    liked = {name: set() for name in SCRIPT}
    with tracing_context(enabled=True, project_name=PROJECT, client=client):
        for name, script in SCRIPT.items():
            print(f"\n== {name}")
            for question, thumbs in script["turns"]:
                run_id, answer = assistants[name].ask(question)
                # Send the trace before the feedback, as a user would only rate a shown answer.
                client.flush()
                client.create_feedback(run_id, key="thumbs", score=thumbs)
                if thumbs:
                    liked[name].add(run_id)
                print(f"[{'up' if thumbs else 'down'}] {question}\n   {answer}")

    examples = wait_for_examples(assistants, liked)

    for name, script in SCRIPT.items():
        print(f"\n== {name}: {len(examples[name])} example(s) in {assistants[name].dataset.name!r}")
        for example in examples[name]:
            print(f"   {example.inputs['question']} -> {example.outputs['answer']}")
            print(f"      (from run {example.source_run_id})")
        # Only this assistant's thumbs-up questions may be there (earlier runs of this script
        # add the same questions again, so questions are compared, not run ids).
        allowed = {q for q, thumbs in script["turns"] if thumbs}
        strays = [e.inputs for e in examples[name] if e.inputs.get("question") not in allowed]
        if strays:
            sys.exit(f"error: {name}'s dataset holds turns it should not: {strays}")
        print(f"   ok: only {name}'s thumbs-up turns are in its dataset")

        shown = assistants[name].prompt(script["final"])
        print(f"   next prompt ({(len(shown) - 2) // 2} few-shot example(s)):")
        for message in shown:
            print(f"      {message['role']:>9}: {message['content']}")
        with tracing_context(enabled=True, project_name=PROJECT, client=client):
            _, answer = assistants[name].ask(script["final"])
        print(f"   answer: {answer}")
    client.flush()


if __name__ == "__main__":
    main()
