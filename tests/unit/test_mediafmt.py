"""The media commands' formatters on fixed records: vmquery (-w, -b, long), bpmedialist (-U, -l,
-L, -summary, -mheader), available_media, and the label bytes bplabel writes.

Positions come from the reference's verbatim samples (netbackup-cli.md §1.9): the -w line of
a volume outside a robot, field for field at NetBackup's columns, and bpmedialist -mlist -U of
a FULL hcart3 volume, byte for byte. The -L lines are read with NBU::Media's own regexes.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from nbcli.commands import labelfmt, mediacodes, mediafmt, vmqueryfmt
from nbcli.media import tapefmt
from nbcli.status import MEDIA_HEADER_UNREADABLE, NbuError


def when(text: str) -> int:
    return int(time.mktime(time.strptime(text, "%m/%d/%Y %H:%M")))


def medium(**over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = dict(
        media_id="A00001", type="hcart", barcode="A00001L6", pool="NetBackup", pool_number=1,
        rt="tld", rn=0, slot=3, host="media1", state=0, assigned=0, expiration=0,
        last_written=0, last_read=0, kbytes=0, images=0, vimages=0, rl=-1, mounts=0,
        max_mounts=0, errors=0, created=when("12/01/2026 09:00"), first_mount=0,
        last_mount=0, description="", jobid=0)
    rec.update(over)
    return rec


# --- vmquery --------------------------------------------------------------------------------

SAMPLE_W = ("000001  -       HCART2    000001L5          -                 -             NONE"
            "       -      -  -      ---                        VP-05WEEKS-EXT             9  "
            "VP-SCRATCH              1250       0          -  30/11/2012 15:30  29/02/2016 "
            "20:43  27/01/2013 17:57  02/03/2016 01:36  00/00/0000 00:00       0  -          "
            "                00/00/0000 00:00  00/00/0000 00:00  -       -             50  ---")


def starts(line: str) -> list[int]:
    return [m.start() for m in re.finditer(r"\S+", line)]


def test_wide_line_puts_each_of_37_fields_at_netbackups_column() -> None:
    rec = medium(media_id="000001", type="hcart2", barcode="000001L5", pool="VP-05WEEKS-EXT",
                 pool_number=9, rt="", rn=-1, slot=0, host="", mounts=1250,
                 assigned=when("02/29/2016 20:43"), created=when("11/30/2012 15:30"),
                 first_mount=when("01/27/2013 17:57"), last_mount=when("03/02/2016 01:36"))
    line = vmqueryfmt.wide_line(rec)
    assert starts(line) == starts(SAMPLE_W)
    f = line.split(None, 36)
    assert len(f) == 37
    assert f[:13] == ["000001", "-", "HCART2", "000001L5", "-", "-", "NONE", "-", "-", "-",
                      "---", "VP-05WEEKS-EXT", "9"]
    assert f[14:17] == ["1250", "0", "-"]
    assert f[17:19] == ["11/30/2012", "15:30"] and f[25:27] == ["00/00/0000", "00:00"]
    assert f[27] == "1" and f[35] == "50" and f[36] == "---"


def test_wide_line_of_a_robot_volume_and_its_description_as_the_last_field() -> None:
    f = vmqueryfmt.wide_line(medium(description="weekly set 2")).split(None, 36)
    assert f[5:11] == ["media1", "TLD", "0", "3", "-", "000_00000_TLD"]
    assert f[11:14] == ["NetBackup", "1", "None"] and f[27] == "0"
    assert f[36] == "weekly set 2"
    assert len(vmqueryfmt.WIDE_HEADER) == 3


def test_brief_line_starts_with_the_media_id() -> None:
    line = vmqueryfmt.brief_line(medium(mounts=4))
    assert line.split()[:6] == ["A00001", "HCART", "TLD", "0", "3", "-"]
    assert line.split()[7] == "4" and line.endswith("---")
    cln = vmqueryfmt.brief_line(medium(media_id="CLN001", type="hc_cln", max_mounts=20,
                                       mounts=5))
    assert cln.split()[:2] == ["CLN001", "HC_CLN"] and cln.split()[7] == "15"


def test_long_form_blocks_framed_by_rules_with_runbook_labels() -> None:
    lines = vmqueryfmt.long_form([medium(), medium(media_id="CLN001", type="hc_cln",
                                                    max_mounts=10, mounts=0)])
    assert lines[0] == "=" * 80 and lines[-1] == "=" * 80
    assert lines.count("=" * 80) == 3
    assert "media ID:              A00001" in lines
    assert 'media type:            1/2" cartridge tape (6)' in lines
    assert "volume pool:           NetBackup (1)" in lines
    assert "robot type:            TLD - Tape Library DLT (8)" in lines
    assert "number of mounts:      0" in lines
    assert [ln.split()[2] for ln in lines if ln.startswith("cleanings left")] == ["10"]
    assert "status:                0x0" in lines and "assigned:              ---" in lines
    assert vmqueryfmt.long_form([]) == []


# --- bpmedialist ----------------------------------------------------------------------------

SAMPLE_U = """Server Host = netbackup

 id     rl  images   allocated        last updated      density  kbytes restores
           vimages   expiration       last read         <------- STATUS ------->
           On Hold
--------------------------------------------------------------------------------
EMR162   9     17   03/12/2026 16:29  03/14/2026 15:56  hcart3  9207800736     0
               17   INFINITY              N/A         FULL
           0

EMR166  24     20   03/13/2026 15:21  03/13/2026 21:40  hcart3  7579495552     0
               20   INFINITY              N/A
           0
"""


def full_tape(**over: Any) -> dict[str, Any]:
    rec = medium(media_id="EMR162", type="HCART3", rl=9, images=17, vimages=17,
                 assigned=when("03/12/2026 16:29"), last_written=when("03/14/2026 15:56"),
                 expiration=mediafmt.INFINITY, kbytes=9207800736, state=mediacodes.FULL)
    rec.update(over)
    return rec


def test_mlist_user_form_is_the_verbatim_sample() -> None:
    other = medium(media_id="EMR166", type="hcart3", rl=24, images=20, vimages=20,
                   assigned=when("03/13/2026 15:21"), last_written=when("03/13/2026 21:40"),
                   expiration=mediafmt.INFINITY, kbytes=7579495552)
    # Three lines and a blank one a volume: the last volume's blank line ends the report.
    assert "\n".join(mediafmt.user_report("netbackup", [full_tape(), other])) \
        == SAMPLE_U


def test_mlist_user_form_with_dates_keeps_the_status_apart() -> None:
    rec = full_tape(state=mediacodes.FROZEN | mediacodes.FULL,
                    expiration=when("04/01/2026 10:00"), last_read=when("03/20/2026 08:00"))
    second = mediafmt.user_block(rec)[1]
    assert second.split() == ["17", "04/01/2026", "10:00", "03/20/2026", "08:00", "FROZEN",
                              "FULL"]


def test_mlist_raw_line_status_is_field_15() -> None:
    f = mediafmt.raw_line(full_tape()).split()
    assert f[0] == "EMR162" and f[3] == "20" and f[11] == "9"
    assert int(f[14]) & 8 and int(f[4]) == when("03/12/2026 16:29")
    assert int(f[8]) == 9207800736 and f[9:11] == ["17", "17"]


def test_mlist_long_form_parses_with_nbu_media_regexes() -> None:
    lines = mediafmt.long_block(full_tape())
    assert re.match(r"^media_id = ([A-Z0-9]+), partner_id.*", lines[0])
    got: dict[str, str] = {}
    for line in lines:
        for key, rx in (("density", r"^density = ([\S]+) \(([\d]+)\)"),
                        ("allocated", r"^allocated = .* \(([0-9]+)\)"),
                        ("expiration", r"^expiration = .* \(([0-9]+)\)"),
                        ("rl", r"retention_level = ([\d]+), num_restores = ([\d]+)"),
                        ("kbytes", r"^kbytes = ([\d]+), nimages = ([\d]+), vimages = ([\d]+)"),
                        ("status", r"^status = 0x([0-9A-Fa-f]+), ")):
            m = re.match(rx, line) if rx.startswith("^") else re.search(rx, line)
            if m:
                got[key] = m.group(1)
    assert got == {"density": "hcart3", "allocated": str(when("03/12/2026 16:29")),
                   "expiration": str(mediafmt.INFINITY), "rl": "9", "kbytes": "9207800736",
                   "status": "8"}
    assert lines[-1] == ""


def test_summary_counts_and_greppable_media_lines() -> None:
    media = [full_tape(), medium(media_id="A00002", assigned=1, rl=1, expiration=mediafmt.
                                 INFINITY),
             medium(media_id="A00003", assigned=1, state=mediacodes.FROZEN)]
    out = mediafmt.summary("media1", media, brief=False)
    assert out[0] == "Server Host = media1"
    assert [ln.split()[-1] for ln in out if "Number of Active" in ln] == ["1"]
    assert [ln.split()[-1] for ln in out if "Number of Non-Active" in ln] == ["2"]
    assert [ln.split()[0] for ln in out if re.search(r"\(FROZEN\)", ln)] == ["A00003"]
    assert [ln.split()[0] for ln in out if "expires" in ln] == ["A00002", "EMR162", "A00003"]
    brief = mediafmt.summary("media1", media, brief=True)
    assert not any("expires" in ln for ln in brief)


def test_listed_media_are_assigned_or_in_a_state() -> None:
    media = [medium(), medium(media_id="B", assigned=5), medium(media_id="C", state=1)]
    assert [r["media_id"] for r in mediafmt.listed(media)] == ["B", "C"]
    assert list(mediafmt.by_server([medium(host=""), medium(media_id="B")], "master")) \
        == ["master", "media1"]


def test_mheader_line() -> None:
    assert mediafmt.mheader_line("600011", when("09/14/2005 21:13"), 6) == \
        "media id = 600011, allocated 09/14/2005 21:13, retention level = 6"


# --- available_media ------------------------------------------------------------------------

def test_available_media_groups_by_pool_with_status_words() -> None:
    pools = [{"name": "None", "number": 0}, {"name": "NetBackup", "number": 1},
             {"name": "Scratch", "number": 4}]
    media = [medium(media_id="A00002", pool="Scratch"),
             medium(media_id="A00001", assigned=1, rl=1, kbytes=1048576),
             medium(media_id="A00003", assigned=1, rl=1, kbytes=5, state=mediacodes.FULL),
             medium(media_id="A00004", assigned=1, state=mediacodes.FROZEN | mediacodes.FULL),
             medium(media_id="A00005", assigned=1, state=mediacodes.SUSPENDED),
             medium(media_id="A00006", state=mediacodes.IMPORTED, rt="", rn=-1)]
    out = mediafmt.available(pools, media)
    assert out[:3] == list(mediafmt.AVAILABLE_HEADER)
    assert [ln for ln in out if ln.endswith(" pool")] == ["NetBackup pool", "Scratch pool"]
    rows = {ln.split()[0]: ln.split() for ln in out[3:] if ln and not ln.endswith(" pool")}
    assert rows["A00001"] == ["A00001", "HCART", "TLD", "0", "3", "-", "1", "1048576",
                              "ACTIVE"]
    assert rows["A00002"][-3:] == ["-", "-", "AVAILABLE"]
    assert [rows[m][-1] for m in ("A00003", "A00004", "A00005", "A00006")] == \
        ["FULL", "FROZEN", "SUSPENDED", "IMPORTED"]
    assert rows["A00006"][2:5] == ["NONE", "-", "-"]
    assert out.index("Scratch pool") > max(out.index(r) for r in out if "A00001" in r)


# --- codes and label bytes ------------------------------------------------------------------

def test_codes() -> None:
    assert mediacodes.density(medium(type="HCART2")) == "hcart2"
    assert mediacodes.density(medium(type="hc3_cln")) == "hcart3"
    assert mediacodes.density_code("hcart") == 6
    assert mediacodes.type_text(medium(type="hcart3")) == '1/2" cartridge tape 3 (24)'
    assert mediacodes.robot_type(medium(rn=-1)) == "NONE"
    assert mediacodes.status_word(medium(assigned=1, state=mediacodes.FULL
                                         | mediacodes.SUSPENDED)) == "SUSPENDED"


def test_label_bytes_are_bptms() -> None:
    assert labelfmt.encode_mh("A00001", 1733000000) == \
        tapefmt.encode_mh(tapefmt.MediaHeader("A00001", 1733000000))
    assert labelfmt.encode_eh("A00001", 1) == \
        tapefmt.encode_eh(tapefmt.EmptyHeader("A00001", 1))
    raw = tapefmt.encode_mh(tapefmt.MediaHeader("B7", 99))
    assert labelfmt.decode_mh(raw) == ("B7", 99)
    with pytest.raises(NbuError) as e:
        labelfmt.decode_mh(b"\0" * 1024)
    assert e.value.status == MEDIA_HEADER_UNREADABLE
