"""`python -m builder.healthcheck api|worker`: the containers' health checks.

`api`: `/healthz` answers. `worker`: its metrics endpoint answers *and* bubblewrap can
build the sandbox real builds and tests use (the sandbox's own probe, the same flags as a
run), so a container whose security settings refuse the sandbox is reported unhealthy at
start instead of failing every build. Exits 0 when healthy, 1 with the reason otherwise.
"""

from __future__ import annotations

import sys
import urllib.request

from builder.settings import Settings


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - loopback URL
            return None if response.status == 200 else f"{url} answered {response.status}"
    except OSError as error:
        return f"{url} did not answer: {error}"


def sandbox_problem(settings: Settings) -> str | None:
    """Why commands could not run sandboxed here, or None.

    It runs `true` through the sandbox runner itself, so bubblewrap gets exactly the argv
    of a real build (fresh /proc, every namespace); a probe with other flags can pass in a
    container that refuses every real run."""
    import tempfile
    from pathlib import Path

    from activities.sandbox import SandboxConfig, SandboxRunner
    from domain.errors import SandboxUnavailable

    runner = SandboxRunner(SandboxConfig(allow_unsandboxed=settings.sandbox_allow_unsandboxed))
    try:
        if not runner.sandboxed():
            return None  # unsandboxed runs were allowed explicitly; nothing to check
        with tempfile.TemporaryDirectory(prefix="builder-healthcheck-") as cwd:
            result = runner.run(["true"], Path(cwd), timeout_s=15)
    except SandboxUnavailable as error:
        return str(error)
    if not result.succeeded:
        return f"a sandboxed `true` failed (exit {result.exit_code}): {result.output.strip()}"
    return None


def check(role: str, settings: Settings) -> str | None:
    if role == "api":
        return _get(f"http://127.0.0.1:{settings.api_port}/healthz")
    if role == "worker":
        if settings.worker_metrics_port:
            problem = _get(f"http://127.0.0.1:{settings.worker_metrics_port}/metrics")
            if problem:
                return problem
        return sandbox_problem(settings)
    return f"unknown role {role!r}: use api or worker"


def main(argv: list[str]) -> int:
    role = argv[0] if argv else ""
    problem = check(role, Settings())
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
