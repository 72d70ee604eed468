"""Contract tests between a Node service (node-resque) and a Python service (pyresque), on
one real Redis: each side's real library, the Node side with its own job definitions.

In your project, leave ``project_dir`` out and tell pytest where the Node project is:
``pytest --pyresque-node-project ../node-service`` (or ``PYRESQUE_NODE_PROJECT``); the test
skips, saying so, where node or node-resque is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyresque.testing import drain

HERE = Path(__file__).resolve().parent
# In this repository the Node project with node-resque installed is interop/node.
NODE_PROJECT = HERE.parent.parent / "interop" / "node"


async def resize_image(image_id: int, sizes: list[int]) -> str:
    """The Python service's job: what the Node service asks for by the name "resizeImage"."""
    return f"image {image_id} resized to {sizes}"


async def test_a_job_the_node_service_enqueues_runs_in_the_python_worker(
    make_node_peer: Any, make_queue: Any
) -> None:
    node = make_node_peer(project_dir=NODE_PROJECT)
    node.enqueue("images", "resizeImage", [42, [64, 128]])  # as the Node service does

    done = await drain(make_queue(), {"resizeImage": resize_image})

    assert done.results("resizeImage") == ["image 42 resized to [64, 128]"]


async def test_a_job_the_python_service_enqueues_runs_in_the_node_worker(
    make_node_peer: Any, make_queue: Any
) -> None:
    await make_queue().enqueue("mail", "sendWelcome", [7, {"locale": "de"}])

    node = make_node_peer(project_dir=NODE_PROJECT, jobs=HERE / "jobs.js")
    [outcome] = node.work("mail", count=1, timeout=10)

    assert outcome.ok, outcome.error
    assert outcome.result == "welcome mail to user 7 in de"
