"""The environment an untrusted command sees: built fresh from an allow-list, never inherited."""

from __future__ import annotations

import re
from collections.abc import Mapping

from domain.errors import PolicyViolation

# Names that carry builder settings, cloud or forge credentials. They are dropped from the
# passthrough even when an operator lists them, and refused when a caller passes them.
_SECRET_NAME = re.compile(
    r"^(BUILDER_|AWS_|AZURE_|GOOGLE_|GCP_|GCLOUD_|OPENAI_|ANTHROPIC_|GITHUB_|GITLAB_|GH_|"
    r"BITBUCKET_|GITEA_|SSH_AUTH_SOCK$|GIT_ASKPASS$|SSH_ASKPASS$|DOCKER_|KUBECONFIG$|VAULT_|"
    r"DATABASE_URL$|PG(PASSWORD|PASSFILE|SERVICEFILE)$|TEMPORAL_)"
    r"|(TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE_KEY|API_KEY|ACCESS_KEY)",
    re.IGNORECASE,
)

RUN_MARKER_VAR = "SANDBOX_RUN_MARKER"


def secret_name_schema_pattern() -> str:
    """The secret-name rule as an ECMA-262 regex for JSON Schema (no inline flags there, so
    each letter becomes its two cases); the rule has no escapes or classes of its own."""
    return re.sub(r"[A-Za-z]", lambda m: f"[{m[0].upper()}{m[0].lower()}]", _SECRET_NAME.pattern)


def is_secret_name(name: str) -> bool:
    """Whether an environment variable name looks like a setting or a credential."""
    return bool(_SECRET_NAME.search(name))


def build_environment(
    parent: Mapping[str, str],
    passthrough: tuple[str, ...],
    fixed: Mapping[str, str],
    requested: Mapping[str, str] | None,
    *,
    home: str,
    tmpdir: str,
    marker: str,
) -> dict[str, str]:
    """A fresh environment: allow-listed parent values, fixed values, then the caller's.

    Raises PolicyViolation when the caller asks for a variable whose name looks like a
    credential or a builder setting: such a request is a bug upstream, not something to drop.
    """
    env: dict[str, str] = {}
    for name in passthrough:
        value = parent.get(name)
        if value is not None and not is_secret_name(name):
            env[name] = value
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env.update(fixed)
    for name, value in (requested or {}).items():
        if is_secret_name(name) or name == RUN_MARKER_VAR:
            raise PolicyViolation(
                f"environment variable {name!r} may not be passed to a sandboxed command: "
                "its name marks it as a builder setting or a credential",
                details={"variable": name},
            )
        env[name] = value
    env["HOME"] = home
    env["TMPDIR"] = tmpdir
    env[RUN_MARKER_VAR] = marker
    return env
