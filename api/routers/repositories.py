"""/v1/repositories: register, read, list, update and soft-delete repositories, and manage
their write-only credential."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Response, status

from activities.forges.location import (
    API_URL_PROPERTY,
    FORGE_PROPERTY,
    PROJECT_PROPERTY,
    resolve_location,
)
from activities.git.credentials import GitCredential
from activities.git.push import list_remote_refs
from activities.git.remote_url import check_remote_url
from api.problems import problem_responses, validation_problem
from api.schemas.common import Page
from api.schemas.repositories import (
    CredentialPut,
    CredentialValidation,
    RepositoryCreate,
    RepositoryOut,
    RepositoryUpdate,
    provider_of,
    state_of,
)
from api.services import PageParams, Svc, TenantId
from domain.errors import DomainError, FieldError, NotFound, ValidationFailed
from domain.pull_requests import PULL_REQUEST_PROPERTY, pull_request_errors
from domain.validation import repository_errors
from persistence.credentials import CredentialRepository
from persistence.repositories.base import UNSET
from persistence.repositories.repositories import RepositoryRepository
from persistence.tables import RepositoryRow

router = APIRouter(prefix="/v1/repositories", tags=["repositories"])

FORGE_PROPERTIES = (FORGE_PROPERTY, API_URL_PROPERTY, PROJECT_PROPERTY)

_AUTH = (401, 429)


async def _out(svc: Svc, tenant_id: uuid.UUID, row: RepositoryRow) -> RepositoryOut:
    async with svc.deps.sessions() as session:
        view = await CredentialRepository(session, svc.deps.keyring).describe(tenant_id, row.id)
    return RepositoryOut.of(row, view)


async def _check_url(svc: Svc, url: str) -> None:
    # resolving the host is blocking I/O: keep it off the event loop
    await asyncio.to_thread(check_remote_url, url, svc.deps.config.git)


_HEAD_PROBE_S = 20.0


async def _remote_default_branch(svc: Svc, url: str) -> str:
    """The branch the remote's HEAD points to, read anonymously; a clear 422 when it cannot
    be read (a private remote: pass default_branch, then store the credential)."""
    from activities.git.remote_head import remote_default_branch  # pygit2 only when probing

    cancel = threading.Event()
    try:
        branch = await asyncio.wait_for(
            asyncio.to_thread(remote_default_branch, url, None, svc.deps.config.git, cancel),
            timeout=_HEAD_PROBE_S,
        )
    except (DomainError, TimeoutError) as exc:
        reason = "no answer in time" if isinstance(exc, TimeoutError) else str(exc)
        raise ValidationFailed([FieldError("default_branch", (
            f"default_branch was not given and the remote's HEAD could not be read ({reason}); "
            "pass default_branch explicitly"
        ))]) from None  # fmt: skip
    finally:
        cancel.set()
    if branch is None:
        raise ValidationFailed([FieldError("default_branch", (
            "default_branch was not given and the remote advertises no HEAD branch (an empty "
            "repository?); pass default_branch explicitly"
        ))])  # fmt: skip
    return branch


async def _check_delivery_properties(svc: Svc, row: RepositoryRow) -> None:
    """`pull_request` and the forge properties are refused at the edge when they cannot
    work, not at the end of an execution."""
    properties = row.properties or {}
    if PULL_REQUEST_PROPERTY in properties:
        errors = pull_request_errors(properties[PULL_REQUEST_PROPERTY])
        if errors:
            raise validation_problem(errors)
    if any(k in properties for k in FORGE_PROPERTIES):
        location = resolve_location(row.url, row.provider, properties)
        # the API host is the tenant's choice like the remote: the same policy applies
        await _check_url(svc, location.api_root)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RepositoryOut,
    responses=problem_responses(*_AUTH, 409, 413, 422),
    summary="Register a repository",
)
async def create_repository(body: RepositoryCreate, tenant_id: TenantId, svc: Svc) -> RepositoryOut:
    errors = repository_errors(str(tenant_id), body.name, body.url)
    if errors:
        raise validation_problem(errors)
    assert body.url is not None and body.name is not None
    await _check_url(svc, body.url)
    default_branch = body.default_branch or await _remote_default_branch(svc, body.url)
    async with svc.deps.sessions.begin() as session:
        row = await RepositoryRepository(session).create(
            tenant_id,
            body.name,
            body.url,
            default_branch=default_branch,
            provider=provider_of(body.provider),
            properties=body.properties.stored(),
        )
        await _check_delivery_properties(svc, row)
    return RepositoryOut.of(row, None)


@router.get(
    "",
    response_model=Page[RepositoryOut],
    responses=problem_responses(*_AUTH, 422),
    summary="List repositories by name",
)
async def list_repositories(tenant_id: TenantId, svc: Svc, page: PageParams) -> Page[RepositoryOut]:
    async with svc.deps.sessions() as session:
        found = await RepositoryRepository(session).list_by_tenant(
            tenant_id, limit=page.limit, offset=page.offset
        )
        credentials = CredentialRepository(session, svc.deps.keyring)
        items = [
            RepositoryOut.of(row, await credentials.describe(tenant_id, row.id))
            for row in found.items
        ]
    return Page(items=items, total=found.total, limit=page.limit, offset=page.offset)


@router.get(
    "/{repository_id}",
    response_model=RepositoryOut,
    responses=problem_responses(*_AUTH, 404),
    summary="Get a repository",
)
async def get_repository(repository_id: str, tenant_id: TenantId, svc: Svc) -> RepositoryOut:
    async with svc.deps.sessions() as session:
        row = await RepositoryRepository(session).get(tenant_id, repository_id)
    return await _out(svc, tenant_id, row)


@router.patch(
    "/{repository_id}",
    response_model=RepositoryOut,
    responses=problem_responses(*_AUTH, 404, 409, 413, 422),
    summary="Update name, default branch, provider, state; merge or remove properties",
)
async def update_repository(
    repository_id: str, body: RepositoryUpdate, tenant_id: TenantId, svc: Svc
) -> RepositoryOut:
    async with svc.deps.sessions.begin() as session:
        repositories = RepositoryRepository(session)
        current = await repositories.get_for_update(tenant_id, repository_id)
        merged = body.merged_properties(current.properties)
        row = await repositories.update(
            tenant_id,
            repository_id,
            name=UNSET if body.name is None else body.name,
            default_branch=UNSET if body.default_branch is None else body.default_branch,
            provider=UNSET if body.provider is None else provider_of(body.provider),
            state=UNSET if body.state is None else state_of(body.state),
            properties=UNSET if merged is None else merged,
        )
        await _check_delivery_properties(svc, row)
    return await _out(svc, tenant_id, row)


@router.delete(
    "/{repository_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(*_AUTH, 404),
    summary="Soft-delete a repository",
)
async def delete_repository(repository_id: str, tenant_id: TenantId, svc: Svc) -> Response:
    async with svc.deps.sessions.begin() as session:
        await RepositoryRepository(session).soft_delete(tenant_id, repository_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _repository_uuid(repository_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(repository_id)
    except ValueError:
        raise NotFound(f"repository {repository_id!r} not found") from None


@router.put(
    "/{repository_id}/credential",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(*_AUTH, 404, 413, 422),
    summary="Set or replace the repository's credential (write-only)",
)
async def put_credential(
    repository_id: str, body: CredentialPut, tenant_id: TenantId, svc: Svc
) -> Response:
    rid = _repository_uuid(repository_id)
    async with svc.deps.sessions.begin() as session:
        await CredentialRepository(session, svc.deps.keyring).set_credential(
            tenant_id, rid, body.credential_type(), body.data()
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/{repository_id}/credential",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(*_AUTH, 404),
    summary="Delete the repository's credential",
)
async def delete_credential(repository_id: str, tenant_id: TenantId, svc: Svc) -> Response:
    rid = _repository_uuid(repository_id)
    async with svc.deps.sessions.begin() as session:
        deleted = await CredentialRepository(session, svc.deps.keyring).delete_credential(
            tenant_id, rid
        )
    if not deleted:
        raise NotFound(f"repository {rid} has no credential")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{repository_id}/credential/validate",
    response_model=CredentialValidation,
    responses=problem_responses(*_AUTH, 404, 422, 503),
    summary="List the remote's refs with the stored credential",
)
async def validate_credential(
    repository_id: str, tenant_id: TenantId, svc: Svc
) -> CredentialValidation:
    rid = _repository_uuid(repository_id)
    async with svc.deps.sessions() as session:
        row = await RepositoryRepository(session).get(tenant_id, rid)
        loaded = await CredentialRepository(session, svc.deps.keyring).load_credential(
            tenant_id, rid
        )
    if loaded is None:
        raise ValidationFailed(
            [FieldError("credential", f"repository {rid} has no credential to validate")]
        )
    credential = GitCredential(type=loaded[0], data=loaded[1])
    cancel = threading.Event()
    try:
        refs = await asyncio.to_thread(
            list_remote_refs, row.url, credential, svc.deps.config.git, None, cancel
        )
    finally:
        # a client that went away stops the ls-remote thread at its next callback
        cancel.set()
    now = datetime.now(UTC)
    async with svc.deps.sessions.begin() as session:
        await CredentialRepository(session, svc.deps.keyring).mark_validated(tenant_id, rid, now)
        await RepositoryRepository(session).update(tenant_id, rid, last_accessed_at=now)
    return CredentialValidation(ok=True, ref_count=len(refs), validated_at=now)
