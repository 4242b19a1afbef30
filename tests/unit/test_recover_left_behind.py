"""Which open jobs a restarted owner (nbjm, bprd) ends as its previous run's leftovers."""

from __future__ import annotations

from nbcli.daemons.recover import Created, left_behind

START = 1_800_000_000.5  # the owner's start, epoch seconds


def job(jobid: int, started: int) -> dict[str, object]:
    return {"jobid": jobid, "started": started, "state": 1}


def test_a_previous_runs_open_job_is_left_behind() -> None:
    created = Created()
    jobs = [job(1, int(START) - 600), job(2, int(START))]  # the same second counts as before
    assert [j["jobid"] for j in left_behind(jobs, created, START)] == [1, 2]


def test_this_runs_jobs_and_jobs_opened_after_the_start_are_not() -> None:
    # bpjobd was not up at the owner's start, so the listing came later: a job this run
    # created, and one another ADMIN caller opened meanwhile, are nobody's leftovers
    created = Created()
    created.add(7)
    jobs = [job(5, int(START) - 10), job(7, int(START) + 1), job(8, int(START) + 2)]
    assert [j["jobid"] for j in left_behind(jobs, created, START)] == [5]
