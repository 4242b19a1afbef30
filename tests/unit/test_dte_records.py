"""Where the DTE modes are kept and shown: bpsetconfig's two new keys (checked before anything
is written), the job's DTE mode in its record and in a BPDBJOBS_COLDEFS column, and the FRAG
line's copy_dtemode/hierarchical_dtemode of `bpimagelist -l`."""

from __future__ import annotations

import pytest

from nbcli import config
from nbcli.catalog import jobrecord
from nbcli.commands import imagefmt, jobfmt
from nbcli.status import NbuError
from tests.unit.test_catalog_fmt import HEADER


@pytest.mark.parametrize(("key", "value", "kept"), [
    ("MEDIA_DTE_MODE", "off", "OFF"), ("MEDIA_DTE_MODE", "ON", "ON"),
    ("DTE_IGNORE_IMAGE_MODE", "always", "ALWAYS"),
    ("DTE_IGNORE_IMAGE_MODE", "where_unsupported", "WHERE_UNSUPPORTED"),
    ("DTE_IGNORE_IMAGE_MODE", "NEVER", "NEVER")])
def test_bpsetconfig_takes_the_modes_in_any_case(key: str, value: str, kept: str) -> None:
    assert config.parse_bpconf(f"{key} = {value}\n") == {key: kept}


@pytest.mark.parametrize("line", ["MEDIA_DTE_MODE = AUTOMATIC", "MEDIA_DTE_MODE =",
                                  "DTE_IGNORE_IMAGE_MODE = SOMETIMES"])
def test_bpsetconfig_refuses_another_word_whole(line: str) -> None:
    """20, and the whole input is refused: the good line before the bad one is not applied."""
    with pytest.raises(NbuError) as e:
        config.parse_bpconf(f"VERBOSE = 5\n{line}\n")
    assert e.value.status == 20 and "line 2" in e.value.detail


def test_defaults() -> None:
    assert (config.DEFAULTS["MEDIA_DTE_MODE"], config.DEFAULTS["DTE_IGNORE_IMAGE_MODE"]) == \
        ("ON", "NEVER")


def test_the_jobs_dte_mode_is_on_off_or_unset() -> None:
    assert jobrecord.clean({"dtemode": "On"}, creating=False) == {"dtemode": "On"}
    assert jobrecord.defaults()["dtemode"] == ""
    assert "dtemode" not in jobrecord.FIELDS  # no -all_columns position moves
    with pytest.raises(NbuError) as e:
        jobrecord.clean({"dtemode": "Maybe"}, creating=False)
    assert e.value.status == 20


def test_dte_mode_column_on_request_only() -> None:
    job = {**jobrecord.defaults(), "jobid": 7, "jobpid": 0, "kbpersec": 0, "trycount": 1,
           "elapsed": 0, "dtemode": "Off"}
    default = jobfmt.report([job])
    assert "DTE Mode" not in default[0]
    asked = jobfmt.report([job], coldefs=["JOBID 6 true", "DTEMODE 8 true"])
    assert asked[0].split() == ["JobID", "DTE", "Mode"] and asked[1].split() == ["7", "Off"]


def test_frag_copy_dte_modes_follow_the_image() -> None:
    for mode in (0, 1):
        frag = imagefmt.raw_lines(dict(HEADER, dte_mode=mode))[2].split()
        # FRAG copy_dtemode, hierarchical_dtemode: reference §1.5's 31st and 32nd fields
        assert (frag[31], frag[32]) == (str(mode), str(mode)) and len(frag) == 36
    assert imagefmt.raw_lines(HEADER)[2].split()[31] == "0"  # a header from before DTE
