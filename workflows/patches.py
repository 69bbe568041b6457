"""The workflow's patch ids, and the one marker a new run records for all of them.

Each `workflow.patched(id)` a run passes records a marker in its history, and the SDK's
core adds an upsert of the `TemporalChangeVersion` search attribute to it: a spec run paid
four of each for patches whose old branch only ever runs from histories recorded before
them. A run that starts on this code records the newest baseline's marker once, at its
first workflow task, and takes every patch that baseline stands for as applied without a
marker of its own; a history without it (recorded before it) replays with the baseline it
recorded, or asks for each patch as it always did, so it replays the branch it took. See
docs/operations.md, "Changing the workflow".

A new patch is an id here and a call to `applied`; it joins a baseline only in a new entry
of BASELINES.
"""

from __future__ import annotations

from temporalio import workflow

# a lost or unrefreshable lease cancels the pipeline at once
LEASE_LOSS_STOPS_RUN = "lease-loss-stops-run"
# lock and approval waits hand over to a fresh history
LONG_WAITS_CONTINUE_AS_NEW = "long-waits-continue-as-new"
# a new run first waits for one of its tenant's execution slots, still pending
TENANT_CONCURRENCY_LIMIT = "tenant-concurrency-limit"
# the pull request after the push, when the push says the settings ask for one
PULL_REQUEST_DELIVERY = "pull-request-delivery"
# the agent engine's turn loop
AGENT_ENGINE = "agent-engine"
# the agent declares its task list (the plan) before it changes anything
AGENT_TASKS = "agent-tasks"
# a phase activity records the state change that follows its result in the same
# transaction, instead of a record_state local activity after it
STATE_WITH_ACTIVITY = "state-with-activity"
# runs from before it applied each declared step in its own activity
SPEC_STEPS_TOGETHER = "spec-steps-together"
# with nothing to run, verification is the verifying state and two skipped-phase events,
# recorded in one local activity instead of two verify activities
SKIP_VERIFY_WITHOUT_COMMAND = "skip-verify-without-command"

# The baselines, newest first: a run that starts on this code records the first marker;
# a run that recorded an older one (or none) replays with what that one stands for. A new
# baseline is a new entry at the front whose ids include every older entry's, never an
# edit of an existing entry (the runs that recorded it took the old branch of anything
# added to it since). Recording one also stands for a run that takes the search attributes
# its start set as set (no upsert of the same values at its first task).
BASELINES: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "baseline-2026-12",
        frozenset(
            {
                LEASE_LOSS_STOPS_RUN,
                LONG_WAITS_CONTINUE_AS_NEW,
                TENANT_CONCURRENCY_LIMIT,
                PULL_REQUEST_DELIVERY,
                AGENT_ENGINE,
                AGENT_TASKS,
                STATE_WITH_ACTIVITY,
                SPEC_STEPS_TOGETHER,
                SKIP_VERIFY_WITHOUT_COMMAND,
            }
        ),
    ),
)


def baseline() -> frozenset[str]:
    """The patches this run takes as applied: those of the newest baseline it recorded, none
    for a run from before them all. The run calls this first, at its first task, where a
    replay asks again; the SDK remembers each answer for the rest of the run."""
    for marker, ids in BASELINES:
        if workflow.patched(marker):
            return ids
    return frozenset()


def applied(patch_id: str) -> bool:
    """`workflow.patched(patch_id)`, answered without a marker of its own on a run whose
    baseline stands for the patch."""
    return patch_id in baseline() or workflow.patched(patch_id)
