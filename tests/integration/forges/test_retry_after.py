"""A forge's Retry-After reaches Temporal: the next attempt starts after the server's delay,
not after the retry policy's 100 ms, and the pull request is opened once."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from activities.forges import ensure_pull_request, open_forge
from activities.forges.body import PullRequestContent
from activities.git.config import GitConfig
from activities.runtime import maps_domain_errors
from domain.enums import GitProvider
from domain.pull_requests import PullRequestMode, PullRequestSettings
from tests.fixtures.forges.github import FakeGitHub
from tests.integration.forges.conftest import TOKEN, token_credential
from tests.integration.forges.retry_workflow import DELIVER, DeliverOnceWorkflow


class Delivery:
    """The activity under test: open the forge, ensure the pull request, record attempts."""

    def __init__(self, fake: FakeGitHub, config: GitConfig) -> None:
        self.fake = fake
        self.config = config
        self.attempts: list[tuple[int, float, float]] = []

    @activity.defn(name=DELIVER)
    @maps_domain_errors
    async def deliver(self, branch: str) -> int:
        started = time.monotonic()
        forge = await open_forge(
            "https://ghe.example.com/acme/app.git",
            GitProvider.GITHUB,
            {"forge_api_url": self.fake.api_url},
            token_credential(TOKEN),
            self.config,
        )
        try:
            outcome = await ensure_pull_request(
                forge,
                execution_id="exec-retry",
                head=branch,
                base="main",
                title="Retry after the limit",
                content=PullRequestContent("exec-retry", "t", "d", branch, "main"),
                settings=PullRequestSettings(mode=PullRequestMode.READY),
            )
            return outcome.pull_request.number
        finally:
            await forge.aclose()
            self.attempts.append((activity.info().attempt, started, time.monotonic()))


async def test_rate_limited_delivery_is_retried_after_the_servers_delay(
    temporal_client: Client, tmp_path: Path
) -> None:
    config = GitConfig(
        workspace_root=tmp_path, mirror_root=tmp_path, denied_hosts=(), allow_plain_http=True
    )
    queue = f"forges-{uuid.uuid4()}"
    with FakeGitHub(TOKEN, project="acme/app") as fake:
        fake.rate_limit_next(retry_after=3)
        delivery = Delivery(fake, config)
        async with Worker(
            temporal_client,
            task_queue=queue,
            workflows=[DeliverOnceWorkflow],
            activities=[delivery.deliver],
        ):
            number = await temporal_client.execute_workflow(
                DeliverOnceWorkflow.run,
                "builder/retry",
                id=f"retry-{uuid.uuid4()}",
                task_queue=queue,
            )
        assert [a[0] for a in delivery.attempts] == [1, 2]
        (_, _, first_ended), (_, second_started, _) = delivery.attempts
        assert second_started - first_ended >= 2.9
        [pr] = fake.open_pulls()
        assert pr.number == number
        assert len(fake.calls("POST", "/pulls")) == 1
