"""Starting executions: the idempotency contract, healing a failed start, validation, and the
commands (cancel, plan decisions) relayed to the workflow."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType as HistoryEventType
from temporalio.client import Client

from persistence.tables import FeatureExecutionRow
from tests.integration.api.conftest import (
    AppFactory,
    Tenant,
    client_for,
    execution_body,
    register_repository,
)
from workflows.search_attributes import STATE


async def _rows_with_key(
    sessions: async_sessionmaker[AsyncSession], tenant: Tenant, key: str
) -> int:
    async with sessions() as session:
        count = await session.scalar(
            select(func.count()).where(
                FeatureExecutionRow.tenant_id == tenant.id,
                FeatureExecutionRow.idempotency_key == key,
            )
        )
    return int(count or 0)


async def _runs_of(temporal_client: Client, workflow_id: str) -> list[str]:
    runs: list[str] = []
    async for wf in temporal_client.list_workflows(f'WorkflowId = "{workflow_id}"'):
        runs.append(wf.run_id)
    return runs


async def test_twenty_concurrent_identical_posts_make_one_execution_and_one_workflow(
    client: httpx.AsyncClient,
    tenant: Tenant,
    sessions: async_sessionmaker[AsyncSession],
    temporal_client: Client,
) -> None:
    repo = await register_repository(client, tenant)
    key = f"concurrent-{uuid.uuid4().hex}"
    body = execution_body(repo["id"])
    headers = {**tenant.headers, "Idempotency-Key": key}

    responses = await asyncio.gather(
        *(client.post("/v1/executions", json=body, headers=headers) for _ in range(20))
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [202], [r.text for r in responses if r.status_code >= 300]
    ids = {r.json()["id"] for r in responses}
    workflow_ids = {r.json()["workflow_id"] for r in responses}
    assert len(ids) == 1 and len(workflow_ids) == 1
    assert all(r.headers["Idempotency-Key"] == key for r in responses)
    assert await _rows_with_key(sessions, tenant, key) == 1
    workflow_id = workflow_ids.pop()
    assert workflow_id == f"feature/{tenant.id}/{key}"
    description = await temporal_client.get_workflow_handle(workflow_id).describe()
    assert await description.static_summary() == body["title"]
    for _ in range(50):  # visibility is eventually consistent
        runs = await _runs_of(temporal_client, workflow_id)
        if runs:
            break
        await asyncio.sleep(0.1)
    assert runs == [description.run_id]


async def test_same_key_with_a_different_body_is_a_conflict_problem(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    repo = await register_repository(client, tenant)
    headers = {**tenant.headers, "Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    first = await client.post("/v1/executions", json=execution_body(repo["id"]), headers=headers)
    assert first.status_code == 202

    other = execution_body(repo["id"], title="Something else entirely")
    second = await client.post("/v1/executions", json=other, headers=headers)

    assert second.status_code == 409
    assert second.headers["content-type"] == "application/problem+json"
    problem = second.json()
    assert problem["type"] == "https://builder.dev/problems/conflict"
    assert first.json()["id"] in problem["detail"]


async def test_post_without_a_key_gets_a_generated_key_that_replays(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    repo = await register_repository(client, tenant)
    body = execution_body(repo["id"])
    first = await client.post("/v1/executions", json=body, headers=tenant.headers)
    assert first.status_code == 202
    key = first.headers["Idempotency-Key"]
    assert key and first.json()["idempotency_key"] == key
    assert first.json()["target_branch"] == "main"
    assert first.json()["feature_branch"].startswith("builder/add-a-hello-page-")

    again = await client.post(
        "/v1/executions", json={**body, "idempotency_key": key}, headers=tenant.headers
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]


async def test_post_whose_workflow_start_failed_is_healed_by_retrying_it(
    make_app: AppFactory, tenant: Tenant, temporal_client: Client
) -> None:
    async def temporal_down() -> Client:
        return await Client.connect("127.0.0.1:1", namespace="default")

    key = f"heal-{uuid.uuid4().hex}"
    async with client_for(make_app(temporal=temporal_down)) as down:
        repo = await register_repository(down, tenant)
        body = execution_body(repo["id"])
        headers = {**tenant.headers, "Idempotency-Key": key}
        failed = await down.post("/v1/executions", json=body, headers=headers)
        assert failed.status_code == 503
        assert failed.json()["type"] == "https://builder.dev/problems/service-unavailable"
        stored = await down.get("/v1/executions", params={"q": "hello"}, headers=tenant.headers)
        assert [e["idempotency_key"] for e in stored.json()["items"]] == [key]

    async with client_for(make_app()) as up:
        healed = await up.post("/v1/executions", json=body, headers=headers)
    assert healed.status_code == 200
    assert healed.json()["idempotency_key"] == key
    description = await temporal_client.get_workflow_handle(healed.json()["workflow_id"]).describe()
    assert description.id == f"feature/{tenant.id}/{key}"


async def test_validation_problem_lists_one_seed_message_per_broken_rule(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    repo = await register_repository(client, tenant)
    body = execution_body(
        repo["id"],
        title="",
        description="short",
        constraints={"max_steps": 51, "timeout_minutes": 500},
        changes=[],
    )
    response = await client.post("/v1/executions", json=body, headers=tenant.headers)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "https://builder.dev/problems/validation"
    assert problem["status"] == 422 and problem["title"]
    assert {(e["field"], e["message"]) for e in problem["errors"]} == {
        ("title", "title is required"),
        ("description", "description must be at least 10 characters"),
        ("constraints.max_steps", "max_steps must be between 0 and 50"),
        ("constraints.timeout_minutes", "timeout_minutes must be between 0 and 120"),
        (
            "changes",
            "the spec engine needs at least one declared change in changes "
            "(or choose engine 'llm')",
        ),
    }


@pytest.mark.parametrize("engine", ["llm", "agent"])
async def test_model_engines_without_a_model_are_refused_with_how_to_configure_one(
    client: httpx.AsyncClient, tenant: Tenant, engine: str
) -> None:
    repo = await register_repository(client, tenant)
    body = execution_body(repo["id"], engine=engine, changes=[])
    response = await client.post("/v1/executions", json=body, headers=tenant.headers)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "engine" and "BUILDER_LLM_MODEL" in error["message"]


async def test_changes_outside_the_allowed_paths_are_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    repo = await register_repository(client, tenant)
    body = execution_body(repo["id"], constraints={"allowed_paths": ["src/"]})
    response = await client.post("/v1/executions", json=body, headers=tenant.headers)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "changes[0].path" and "allowed_paths" in error["message"]
    assert "docs/hello.md" not in response.text  # names the field, never the value


async def test_cancel_signals_the_workflow_and_a_finished_execution_is_a_conflict(
    client: httpx.AsyncClient, tenant: Tenant, temporal_client: Client
) -> None:
    repo = await register_repository(client, tenant)
    created = await client.post(
        "/v1/executions", json=execution_body(repo["id"]), headers=tenant.headers
    )
    execution = created.json()

    cancelled = await client.post(
        f"/v1/executions/{execution['id']}/cancel",
        json={"reason": "no longer needed"},
        headers=tenant.headers,
    )
    assert cancelled.status_code == 202
    history = await temporal_client.get_workflow_handle(execution["workflow_id"]).fetch_history()
    signals = [
        e.workflow_execution_signaled_event_attributes
        for e in history.events
        if e.event_type == HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert [s.signal_name for s in signals] == ["cancel"]
    assert b"no longer needed" in signals[0].input.payloads[0].data

    await temporal_client.get_workflow_handle(execution["workflow_id"]).terminate("test")
    async with _sessions_of(client) as session:
        row = await session.get(FeatureExecutionRow, uuid.UUID(execution["id"]))
        assert row is not None
        row.state = 8  # cancelled, as the workflow would have recorded
        await session.commit()
    again = await client.post(f"/v1/executions/{execution['id']}/cancel", headers=tenant.headers)
    assert again.status_code == 409
    assert "cancelled" in again.json()["detail"]


async def test_cancel_of_an_execution_whose_workflow_never_started_cancels_the_row(
    make_app: AppFactory, tenant: Tenant
) -> None:
    async def temporal_down() -> Client:
        return await Client.connect("127.0.0.1:1", namespace="default")

    async with client_for(make_app(temporal=temporal_down)) as down:
        repo = await register_repository(down, tenant)
        failed = await down.post(
            "/v1/executions", json=execution_body(repo["id"]), headers=tenant.headers
        )
        assert failed.status_code == 503
        listed = await down.get("/v1/executions", headers=tenant.headers)
        [execution] = listed.json()["items"]
    async with client_for(make_app()) as up:
        cancelled = await up.post(
            f"/v1/executions/{execution['id']}/cancel", headers=tenant.headers
        )
        assert cancelled.status_code == 202
        assert cancelled.json()["state"] == "cancelled"
        events = await up.get(f"/v1/executions/{execution['id']}/events", headers=tenant.headers)
    assert [e["type"] for e in events.json()["items"]] == [
        "execution.created",
        "execution.cancelled",
    ]


async def test_plan_decisions_on_an_execution_not_waiting_for_approval_are_conflicts(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    repo = await register_repository(client, tenant)
    created = await client.post(
        "/v1/executions", json=execution_body(repo["id"]), headers=tenant.headers
    )
    for decision in ("approve", "reject"):
        response = await client.post(
            f"/v1/executions/{created.json()['id']}/plan/{decision}",
            json={"reason": "looks fine", "by": "reviewer"},
            headers=tenant.headers,
        )
        assert response.status_code == 409
        assert "not waiting for plan approval (state pending)" in response.json()["detail"]


def _sessions_of(client: httpx.AsyncClient) -> AsyncSession:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    sessions: async_sessionmaker[AsyncSession] = transport.app.state.services.deps.sessions  # type: ignore[attr-defined]
    return sessions()


async def test_workflow_starts_on_the_configured_task_queue(
    make_app: AppFactory, tenant: Tenant, temporal_client: Client
) -> None:
    queue = f"custom-{uuid.uuid4().hex[:6]}"
    async with client_for(make_app(task_queue=queue)) as client:
        repo = await register_repository(client, tenant)
        response = await client.post(
            "/v1/executions", json=execution_body(repo["id"]), headers=tenant.headers
        )
    assert response.status_code == 202, response.text
    handle = temporal_client.get_workflow_handle(response.json()["workflow_id"])
    described = await handle.describe()
    assert described.task_queue == queue
    assert described.typed_search_attributes[STATE] == "pending"


async def test_an_executions_own_pull_request_setting_is_checked_naming_the_field(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    repo = await register_repository(client, tenant)
    body = execution_body(repo["id"], properties={"pull_request": {"mode": "sometimes"}})
    response = await client.post("/v1/executions", json=body, headers=tenant.headers)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "properties.pull_request.mode"
    assert "sometimes" not in response.text
    good = execution_body(repo["id"], properties={"pull_request": {"mode": "draft"}})
    accepted = await client.post("/v1/executions", json=good, headers=tenant.headers)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["properties"]["pull_request"] == {"mode": "draft"}


async def _pushed(
    sessions: async_sessionmaker[AsyncSession], execution_id: str, branch: str
) -> None:
    """Mark an execution as having pushed `branch` (what a finished run records)."""
    async with sessions.begin() as session:
        row = await session.get(FeatureExecutionRow, uuid.UUID(execution_id))
        assert row is not None
        row.result = {
            "branch_name": branch, "commit_sha": "a" * 40, "commit_count": 1,
            "files_changed": 1, "lines_added": 1, "lines_removed": 0,
        }  # fmt: skip


async def test_a_follow_up_continues_the_branch_of_an_earlier_execution(
    client: httpx.AsyncClient, tenant: Tenant, sessions: async_sessionmaker[AsyncSession]
) -> None:
    repo = await register_repository(client, tenant)
    earlier = await client.post(
        "/v1/executions",
        json=execution_body(
            repo["id"], target_branch="develop", properties={"pull_request": "draft"}
        ),
        headers=tenant.headers,
    )
    assert earlier.status_code == 202, earlier.text
    first = earlier.json()

    not_pushed = await client.post(
        "/v1/executions",
        json=execution_body(repo["id"], continue_from=first["id"]),
        headers=tenant.headers,
    )
    assert not_pushed.status_code == 422
    assert not_pushed.json()["errors"][0]["field"] == "continue_from"
    assert "has not pushed" in not_pushed.json()["errors"][0]["message"]

    await _pushed(sessions, first["id"], first["feature_branch"])
    follow = await client.post(
        "/v1/executions",
        json=execution_body(repo["id"], title="Address the review", continue_from=first["id"]),
        headers=tenant.headers,
    )
    assert follow.status_code == 202, follow.text
    out = follow.json()
    assert out["feature_branch"] == out["continue_branch"] == first["feature_branch"]
    assert out["continue_from"] == first["id"]
    assert out["target_branch"] == "develop"  # the pull request's base stays
    assert out["properties"]["pull_request"] == "draft"  # it delivers like the first


async def test_follow_up_requests_that_cannot_work_name_the_field(
    client: httpx.AsyncClient, tenant: Tenant, sessions: async_sessionmaker[AsyncSession]
) -> None:
    repo = await register_repository(client, tenant)
    other_repo = await register_repository(client, tenant)
    first = (
        await client.post("/v1/executions", json=execution_body(repo["id"]), headers=tenant.headers)
    ).json()
    await _pushed(sessions, first["id"], first["feature_branch"])

    async def post(**fields: object) -> httpx.Response:
        return await client.post(
            "/v1/executions", json=execution_body(**fields), headers=tenant.headers
        )

    unknown = await post(repository_id=repo["id"], continue_from=str(uuid.uuid4()))
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["field"] == "continue_from"
    elsewhere = await post(repository_id=other_repo["id"], continue_from=first["id"])
    assert elsewhere.status_code == 422
    assert "another repository" in elsewhere.json()["errors"][0]["message"]
    mismatch = await post(
        repository_id=repo["id"], continue_from=first["id"], continue_branch="someone/else"
    )
    assert mismatch.status_code == 422
    assert mismatch.json()["errors"][0]["field"] == "continue_branch"
    onto_target = await post(repository_id=repo["id"], continue_branch="main")
    assert onto_target.status_code == 422
    assert onto_target.json()["errors"][0]["field"] == "continue_branch"
    bad_name = await post(repository_id=repo["id"], continue_branch="no..dots")
    assert bad_name.status_code == 422
    branch_only = await post(repository_id=repo["id"], continue_branch="people/fix-it")
    assert branch_only.status_code == 202, branch_only.text
    assert branch_only.json()["feature_branch"] == "people/fix-it"
    assert branch_only.json()["continue_from"] is None


async def test_address_review_needs_the_llm_engine_and_a_follow_up(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    repo = await register_repository(client, tenant)
    body = execution_body(repo["id"], properties={"address_review": True})
    response = await client.post("/v1/executions", json=body, headers=tenant.headers)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "properties.address_review" and "llm" in error["message"]
