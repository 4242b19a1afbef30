"""When an owner tops up its spares (nbcli.net.spare.due): at a quiet moment, or at once when
none is left and the program's last process has ended."""

from __future__ import annotations

from nbcli.net.spare import QUIET, due


def test_a_spare_still_waiting_is_replaced_only_once_launches_stop() -> None:
    # a long restore took one of the two tape-restore spares: its agents still run
    short = {"bprd", "bpbrm"}
    running = {"bprd": 1, "bpbrm": 1}
    waiting = {"bprd": 1, "bpbrm": 1}
    assert due(short, running, waiting, QUIET / 10) == set()
    # half a second without a launch: the job streams; its replacements import now
    assert due(short, running, waiting, QUIET) == {"bprd", "bpbrm"}


def test_a_job_right_after_a_short_one_finds_the_other_spare_and_nothing_importing() -> None:
    # the short job ended at once (nothing of it runs) but a spare of each still waits: the
    # next job, coming now, takes that one; no import starts beside it
    assert due({"tar-restore"}, {}, {"tar-restore": 1}, 0.0) == set()


def test_none_left_is_replaced_as_soon_as_the_program_ends() -> None:
    short = {"tar-restore", "bpbrm"}
    waiting = {"tar-restore": 0}  # the second job in a row took the last one
    # tar-restore's process ended, bpbrm's still runs: only tar-restore's are due
    assert due(short, {"bpbrm": 1}, waiting, 0.0) == {"tar-restore"}
    assert due(short, {}, waiting, 0.0) == {"tar-restore", "bpbrm"}


def test_nothing_launched_nothing_due() -> None:
    assert due(set(), {}, {}, 3600.0) == set()
