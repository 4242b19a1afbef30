"""tapeaccess.choose: the drive bplabel and bpmedialist -mheader mount a medium in, from
nbemm's robots and drives (its replies stood in for by a dictionary)."""

from __future__ import annotations

from typing import Any

import pytest

from nbcli.commands import tapeaccess
from nbcli.config import HostConfig
from nbcli.status import MEDIA_REQUEST_FAILED, NO_DRIVES, NbuError


def drive(index: int, **over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"index": index, "name": f"drive{index}", "host": "media1",
                         "type": "hcart", "rn": 0, "drnum": index, "path": f"/lib:{index}",
                         "state": "UP", "comment": "", "jobid": 0, "media_id": ""}
    d.update(over)
    return d


@pytest.fixture
def emm(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    state: dict[str, Any] = {"robots": [{"rn": 0, "rt": "tld", "host": "media1",
                                         "device": "/lib"}], "drives": [], "asked": []}

    def request(cfg: Any, server: str, op: str, /, **fields: Any) -> dict[str, Any]:
        state["asked"].append((op, fields))
        return {"robot_list": {"robots": state["robots"]},
                "drive_list": {"drives": state["drives"]}}[op]

    monkeypatch.setattr(tapeaccess, "emm_request", request)
    return state


MEDIUM = {"media_id": "A00001", "type": "hcart", "rt": "tld", "rn": 0, "host": "media1",
          "barcode": "A00001L6"}
CFG: HostConfig = None  # type: ignore[assignment]  # choose passes it through only


def test_a_free_up_drive_of_the_density_holding_the_cartridge_first(emm: dict[str, Any]
                                                                     ) -> None:
    emm["drives"] = [drive(0, state="DOWN"), drive(1, jobid=7), drive(2, type="hcart2"),
                     drive(3), drive(4, media_id="A00001")]
    place = tapeaccess.choose(CFG, "master", MEDIUM)
    assert place.drive["name"] == "drive4" and place.host == "media1"
    assert ("drive_list", {"host": "media1"}) in emm["asked"]
    emm["drives"][4]["media_id"] = ""
    assert tapeaccess.choose(CFG, "master", MEDIUM).drive["name"] == "drive3"
    assert tapeaccess.choose(CFG, "master", MEDIUM, name="drive4").drive["index"] == 4
    assert tapeaccess.choose(CFG, "master", MEDIUM, index=3).drive["name"] == "drive3"


def test_no_drive_that_will_do_is_2001_and_no_robot_is_98(emm: dict[str, Any]) -> None:
    emm["drives"] = [drive(0, state="DOWN"), drive(1, rn=1)]
    for kwargs in ({}, {"name": "drive0"}, {"index": 1}):
        with pytest.raises(NbuError) as e:
            tapeaccess.choose(CFG, "master", MEDIUM, **kwargs)
        assert e.value.status == NO_DRIVES
    with pytest.raises(NbuError) as e:
        tapeaccess.choose(CFG, "master", dict(MEDIUM, rn=-1, rt=""))
    assert e.value.status == MEDIA_REQUEST_FAILED
    emm["robots"] = []
    with pytest.raises(NbuError) as e:
        tapeaccess.choose(CFG, "master", MEDIUM)
    assert e.value.status == MEDIA_REQUEST_FAILED
