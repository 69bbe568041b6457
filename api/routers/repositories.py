"""/v1/repositories: register, read, list, update and soft-delete repositories, and manage
their write-only credential."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from activities.forges.location import (
    API_URL_PROPERTY,
    FORGE_PROPERTY,
    PROJECT_PROPERTY,
    resolve_location,
)
from api.problems import problem_responses, service_unavailable, validation_problem
from api.remote_policy import check_repository_url
from api.schemas.common import Page
from api.schemas.repositories import (
    CredentialPut,
    CredentialValidation,
    RepositoryCreate,
    RepositoryOut,
    RepositoryUpdate,
    SetupSecretList,
    SetupSecretOut,
    SetupSecretPut,
    provider_of,
    state_of,
)
from api.services import PageParams, Svc, TenantId, Uow
from domain.errors import DomainError, NotFound, PolicyViolation, RepositoryAccessError
from domain.pull_requests import PULL_REQUEST_PROPERTY, pull_request_errors
from domain.validation import repository_errors
from persistence.credentials import CredentialRepository
from persistence.repositories.base import UNSET
from persistence.setup_secrets import NAME_PATTERN, SetupSecrets, forget_setup_secrets
from persistence.tables import RepositoryRow
from persistence.uow import UnitOfWork

router = APIRouter(prefix="/v1/repositories", tags=["repositories"])
log = logging.getLogger(__name__)

FORGE_PROPERTIES = (FORGE_PROPERTY, API_URL_PROPERTY, PROJECT_PROPERTY)
_AUTH = (401, 429)
_HEAD_PROBE_S = 20.0


async def _out(
    svc: Svc, uow: UnitOfWork, tenant_id: uuid.UUID, row: RepositoryRow
) -> RepositoryOut:
    view = await CredentialRepository(uow.session, svc.deps.keyring).describe(tenant_id, row.id)
    return RepositoryOut.of(row, view)


# what a remote whose HEAD cannot be read anonymously (a private one) starts with; the
# branch can be changed with PATCH once a credential is stored
FALLBACK_BRANCH = "main"


async def _remote_default_branch(svc: Svc, url: str) -> str:
    """The branch the remote's HEAD points to, read anonymously; `main` when it cannot be
    read (a private remote, or one this API host cannot reach)."""
    probe = svc.deps.remote_probe
    if probe is None:
        return FALLBACK_BRANCH
    cancel = threading.Event()
    try:
        branch = await asyncio.wait_for(
            asyncio.to_thread(probe.default_branch, url, cancel), timeout=_HEAD_PROBE_S
        )
    except (DomainError, TimeoutError) as exc:
        log.info("remote HEAD of a new repository not readable (%s); using main", exc)
        return FALLBACK_BRANCH
    finally:
        cancel.set()
    return branch or FALLBACK_BRANCH


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
        await check_repository_url(location.api_root, svc.deps.config.remotes)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RepositoryOut,
    responses=problem_responses(*_AUTH, 409, 413, 422),
    summary="Register a repository",
)
async def create_repository(
    body: RepositoryCreate, tenant_id: TenantId, svc: Svc, uow: Uow
) -> RepositoryOut:
    errors = repository_errors(str(tenant_id), body.name, body.url)
    if errors:
        raise validation_problem(errors)
    assert body.name is not None and body.url is not None  # the seed's rules said so
    await check_repository_url(body.url, svc.deps.config.remotes)
    default_branch = body.default_branch or await _remote_default_branch(svc, body.url)
    row = await uow.repositories.create(
        tenant_id,
        body.name,
        body.url,
        default_branch=default_branch,
        provider=provider_of(body.provider),
        properties=body.properties.stored(),
    )
    await _check_delivery_properties(svc, row)
    await uow.commit()
    return RepositoryOut.of(row, None)


@router.get(
    "",
    response_model=Page[RepositoryOut],
    responses=problem_responses(*_AUTH, 422),
    summary="List repositories by name",
)
async def list_repositories(
    tenant_id: TenantId, svc: Svc, page: PageParams, uow: Uow
) -> Page[RepositoryOut]:
    found = await uow.repositories.list_by_tenant(tenant_id, limit=page.limit, offset=page.offset)
    items = [await _out(svc, uow, tenant_id, row) for row in found.items]
    return Page(items=items, total=found.total, limit=page.limit, offset=page.offset)


@router.get(
    "/{repository_id}",
    response_model=RepositoryOut,
    responses=problem_responses(*_AUTH, 404),
    summary="Get a repository",
)
async def get_repository(
    repository_id: uuid.UUID, tenant_id: TenantId, svc: Svc, uow: Uow
) -> RepositoryOut:
    row = await uow.repositories.get(tenant_id, repository_id)
    return await _out(svc, uow, tenant_id, row)


@router.patch(
    "/{repository_id}",
    response_model=RepositoryOut,
    responses=problem_responses(*_AUTH, 404, 409, 413, 422),
    summary="Update name, default branch, provider, state or properties",
)
async def update_repository(
    repository_id: uuid.UUID, body: RepositoryUpdate, tenant_id: TenantId, svc: Svc, uow: Uow
) -> RepositoryOut:
    current = await uow.repositories.get_for_update(tenant_id, repository_id)
    merged = body.merged_properties(current.properties)
    row = await uow.repositories.update(
        tenant_id,
        repository_id,
        name=UNSET if body.name is None else body.name,
        default_branch=UNSET if body.default_branch is None else body.default_branch,
        provider=UNSET if body.provider is None else provider_of(body.provider),
        state=UNSET if body.state is None else state_of(body.state),
        properties=UNSET if merged is None else merged,
    )
    await _check_delivery_properties(svc, row)
    out = await _out(svc, uow, tenant_id, row)
    await uow.commit()
    return out


@router.delete(
    "/{repository_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(*_AUTH, 404),
    summary="Soft-delete a repository",
)
async def delete_repository(repository_id: uuid.UUID, tenant_id: TenantId, uow: Uow) -> Response:
    await uow.repositories.soft_delete(tenant_id, repository_id)
    # the row stays for audit; its setup secrets do not
    await forget_setup_secrets(uow.session, tenant_id, repository_id)
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/{repository_id}/credential",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(*_AUTH, 404, 413, 422),
    summary="Set or replace the repository's credential (write-only)",
)
async def put_credential(
    repository_id: uuid.UUID, body: CredentialPut, tenant_id: TenantId, svc: Svc, uow: Uow
) -> Response:
    await CredentialRepository(uow.session, svc.deps.keyring).set_credential(
        tenant_id, repository_id, body.credential_type(), body.data()
    )
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


SecretName = Annotated[
    str, Path(pattern=NAME_PATTERN, max_length=100, description="an environment variable name")
]


@router.put(
    "/{repository_id}/setup-secrets/{name}",
    responses=problem_responses(*_AUTH, 404, 413, 422),
    summary="Set or replace a setup-only secret (write-only; setup receives it as $name)",
)
async def put_setup_secret(
    repository_id: uuid.UUID, name: SecretName, body: SetupSecretPut, tenant_id: TenantId,
    svc: Svc, uow: Uow,
) -> SetupSecretOut:  # fmt: skip
    view = await SetupSecrets(uow.session, svc.deps.keyring).put(
        tenant_id, repository_id, name, body.value.get_secret_value()
    )
    await uow.commit()
    return SetupSecretOut(name=view.name, created_at=view.created_at, updated_at=view.updated_at)


@router.get(
    "/{repository_id}/setup-secrets",
    responses=problem_responses(*_AUTH, 404),
    summary="The names of the repository's setup-only secrets (never their values)",
)
async def list_setup_secrets(
    repository_id: uuid.UUID, tenant_id: TenantId, svc: Svc, uow: Uow
) -> SetupSecretList:
    views = await SetupSecrets(uow.session, svc.deps.keyring).names(tenant_id, repository_id)
    return SetupSecretList(
        items=[SetupSecretOut(name=v.name, created_at=v.created_at, updated_at=v.updated_at)
               for v in views]
    )  # fmt: skip


@router.delete(
    "/{repository_id}/setup-secrets/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(*_AUTH, 404),
    summary="Delete a setup-only secret",
)
async def delete_setup_secret(
    repository_id: uuid.UUID, name: SecretName, tenant_id: TenantId, svc: Svc, uow: Uow
) -> Response:
    deleted = await SetupSecrets(uow.session, svc.deps.keyring).delete(
        tenant_id, repository_id, name
    )
    if not deleted:
        raise NotFound(f"repository {repository_id} has no setup secret {name}")
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/{repository_id}/credential",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(*_AUTH, 404),
    summary="Delete the repository's credential",
)
async def delete_credential(
    repository_id: uuid.UUID, tenant_id: TenantId, svc: Svc, uow: Uow
) -> Response:
    deleted = await CredentialRepository(uow.session, svc.deps.keyring).delete_credential(
        tenant_id, repository_id
    )
    if not deleted:
        raise NotFound(f"repository {repository_id} has no credential")
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{repository_id}/credential/validate",
    response_model=CredentialValidation,
    responses=problem_responses(*_AUTH, 404, 422, 503),
    summary="Check the stored credential against the remote: ok, or why not",
)
async def validate_credential(
    repository_id: uuid.UUID, tenant_id: TenantId, svc: Svc, uow: Uow
) -> CredentialValidation:
    credentials = CredentialRepository(uow.session, svc.deps.keyring)
    row = await uow.repositories.get(tenant_id, repository_id)
    loaded = await credentials.load_credential(tenant_id, repository_id)
    if loaded is None:
        raise NotFound(f"repository {repository_id} has no credential to validate")
    probe = svc.deps.remote_probe
    if probe is None:
        raise service_unavailable("credential validation is not configured on this server")
    url = row.url
    # end the read transaction: the remote may take a while to answer
    await uow.rollback()
    cancel = threading.Event()
    try:
        refs = await asyncio.to_thread(probe.count_refs, url, loaded[0], loaded[1], cancel)
    except (RepositoryAccessError, PolicyViolation) as failed:
        # the check ran and the answer is no: a verdict, not an error of the request
        return CredentialValidation(
            ok=False, ref_count=0, validated_at=datetime.now(UTC), reason=failed.message
        )
    finally:
        # a client that went away stops the ls-remote thread at its next callback
        cancel.set()
    now = datetime.now(UTC)
    await credentials.mark_validated(tenant_id, repository_id, now)
    await uow.repositories.update(tenant_id, repository_id, last_accessed_at=now)
    await uow.commit()
    return CredentialValidation(ok=True, ref_count=refs, validated_at=now)
