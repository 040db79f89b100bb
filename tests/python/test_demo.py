"""The self-learning demo (examples/self_learning/app.py) runs against the server and closes its
loop: it exits 0 only when each assistant's dataset holds exactly its thumbs-up turns."""

import os
import subprocess
import sys
import uuid

from conftest import ROOT


def test_self_learning_demo_closes_the_loop(server):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env.update(
        LANGSMITH_ENDPOINT=server.url,
        LANGSMITH_API_KEY="test-key",
        LANGSMITH_PROJECT=f"demo-{uuid.uuid4().hex[:8]}",
    )
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "self_learning" / "app.py")],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "model StandInModel" in done.stdout
    assert done.stdout.count("ok: only") == 2, done.stdout
