"""Artifact store (file:// and s3:// backends) and the execution artifacts kept in it."""

from persistence.artifacts.names import safe_name, storage_key
from persistence.artifacts.patches import store_patch, store_patches
from persistence.artifacts.service import ArtifactService, artifact_id_for
from persistence.artifacts.store import ArtifactStore, BlobNotFound, StoredBlob, open_store

__all__ = [
    "ArtifactService",
    "ArtifactStore",
    "BlobNotFound",
    "StoredBlob",
    "artifact_id_for",
    "open_store",
    "safe_name",
    "storage_key",
    "store_patch",
    "store_patches",
]
