"""Setup-only secrets through the verify activity: setup receives them as variables, the
build and the tests do not, and the setup log, events and failure details never show them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from activities.phases.context import ExecutionContext
from activities.pipeline import FeaturePipeline
from domain.contracts import VerifyRequest
from persistence.setup_secrets import SetupSecrets
from persistence.uow import UnitOfWork
from tests.fixtures.executions import Harness
from tests.fixtures.services import require_executable
from tests.integration.activities.conftest import applied

TOKEN = "s3tup-only-" + uuid.uuid4().hex
SETUP = 'echo "token is $INDEX_TOKEN"; test -n "$INDEX_TOKEN" && echo setup-saw-it'
ABSENT = 'test -z "${INDEX_TOKEN:-}" && ! env | grep -q s3tup-only && echo PHASE-never-saw-it'


async def test_only_setup_receives_a_setup_secret_and_no_log_or_event_shows_it(
    harness: Harness, pipeline: FeaturePipeline, bare_remote: Callable[..., Path]
) -> None:
    require_executable("bwrap", "install bubblewrap (apt-get install bubblewrap)")
    tenant = uuid.uuid4()
    repo = await harness.repository(tenant, str(bare_remote(files=2)), {
        "setup_command": SETUP,
        "build_command": ABSENT.replace("PHASE", "build"),
        "test_command": ABSENT.replace("PHASE", "test"),
    })  # fmt: skip
    async with UnitOfWork(harness.sessions) as uow:
        await SetupSecrets(uow.session, pipeline.deps.keyring).put(
            tenant, repo, "INDEX_TOKEN", TOKEN
        )
        await uow.commit()
    run, row = await applied(
        harness, pipeline, tenant, repo, [{"op": "write_file", "path": "a.txt", "content": "a\n"}]
    )

    built = await run("verify", VerifyRequest(ref=run.ref, phase="build"))
    tested = await run("verify", VerifyRequest(ref=run.ref, phase="test"))

    assert built.passed and tested.passed
    phase = pipeline.phases[0]
    ctx: ExecutionContext = await phase.context(run.ref)
    logs = {name: await phase.text_artifact(ctx, f"{name}.log") for name in ("setup", "build",
                                                                             "test")}  # fmt: skip
    assert logs["setup"] is not None and "setup-saw-it" in logs["setup"]
    assert "token is ***" in logs["setup"] and TOKEN not in logs["setup"]
    assert "build-never-saw-it" in (logs["build"] or "")
    assert "test-never-saw-it" in (logs["test"] or "")
    async with UnitOfWork(harness.sessions) as uow:
        events = await uow.events.read_after(row.id, 0, 1000)
        listed = await SetupSecrets(uow.session, pipeline.deps.keyring).names(tenant, repo)
    assert TOKEN not in str([e.payload for e in events])
    assert [s.name for s in listed] == ["INDEX_TOKEN"]
