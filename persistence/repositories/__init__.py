"""Repositories, one module per aggregate. They take a session and never commit."""

from persistence.repositories.api_keys import ApiKeyRepository, IssuedApiKey, hash_api_key
from persistence.repositories.base import UNSET, Page, TenantRepository
from persistence.repositories.executions import FeatureExecutionRepository, FeatureSearchQuery
from persistence.repositories.file_changes import FileChangeRepository
from persistence.repositories.repositories import RepositoryRepository
from persistence.repositories.steps import ExecutionStepRepository, stored_edits

__all__ = [
    "UNSET",
    "ApiKeyRepository",
    "ExecutionStepRepository",
    "FeatureExecutionRepository",
    "FeatureSearchQuery",
    "FileChangeRepository",
    "IssuedApiKey",
    "Page",
    "RepositoryRepository",
    "TenantRepository",
    "hash_api_key",
    "stored_edits",
]
