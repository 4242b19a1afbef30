"""Policy output forms, checked field by field against NetBackup's (reference §1.7) and
against the way real scripts parse them (awk positions, regexes, fixed columns)."""

from __future__ import annotations

import datetime
import re
import time

from nbcli.commands import policyfmt
from nbcli.model import policy_raw, schedule_text
from nbcli.model.policy import Client, Copy, Policy, Schedule, Weekday, Window

# The reference's `bppllist <policy> -U` right after bppolicynew (NBU 10.x), name and date
# replaced by placeholders.
SAMPLE_U = """------------------------------------------------------------

Policy Name:       {name}

  Policy Type:         Standard
  Active:              yes
  Effective date:      {date}
  Client Compress:     no
  Follow NFS Mounts:   no
  Cross Mount Points:  no
  Collect TIR info:    no
  Block Incremental:   no
  Mult. Data Streams:  no
  Client Encrypt:      no
  Checkpoint:          no
  Policy Priority:     0
  Max Jobs/Policy:     Unlimited
  Disaster Recovery:   0
  Collect BMR info:    no
  Residence:           (specific storage unit not required)
  Volume Pool:         NetBackup
  Server Group:        *ANY*
  Keyword:             (none specified)
  Data Classification:       -
  Residence is Storage Lifecycle Policy:    no
  Application Discovery:      no
  Discovery Lifetime:      0 seconds
  ASC Application and attributes: (none defined)

  Granular Restore Info:  no
  Ignore Client Direct:  no
  Use Accelerator:  no

  Clients:\t(none defined)

  Include:\t(none defined)

  Schedule:\t(none defined)"""

EFFECTIVE = 1685708000


def weekly(label: str = "full") -> Schedule:
    return Schedule(label, frequency=604800, copies=[Copy(3)],
                    windows=[Window(64800, 43200)] * 7)


def policy() -> Policy:
    return Policy("pol", effective_date=EFFECTIVE, keyword="two words", residence="stu1",
                  clients=[Client("c1", "Linux", "RedHat", 2), Client("c2", "Linux", "Debian")],
                  includes=["/etc", "/with space"], schedules=[weekly()])


def test_u_form_of_a_new_policy_is_the_reference_sample() -> None:
    p = Policy("airbus_policy", effective_date=EFFECTIVE)
    expected = SAMPLE_U.format(name="airbus_policy",
                               date=time.strftime("%m/%d/%Y %H:%M:%S",
                                                  time.localtime(EFFECTIVE)))
    assert "\n".join(policyfmt.policy_u(p)) == expected


def test_raw_info_fields_by_position() -> None:
    p = policy()
    p.active, p.policy_type, p.priority, p.max_jobs = False, 13, 7, 3
    info = policy_raw.info_line(p).split()
    assert info[0] == "INFO" and len(info) == 40  # the tag and 39 fields
    assert info[1] == "13" and info[4] == "7" and info[8] == "3"
    assert info[11] == "1"  # `awk '/^INFO/ {print $12}'`: 1 = inactive
    assert info[19] == str(EFFECTIVE)
    p.active, p.max_jobs = True, 0
    info = policy_raw.info_line(p).split()
    assert info[11] == "0" and info[8] == "2147483647"


def test_raw_policy_records() -> None:
    lines = policy_raw.policy_lines(policy())
    tags = [line.split()[0] for line in lines]
    assert tags[:12] == ["CLASS", "NAMES", "INFO", "KEY", "BCMD", "RCMD", "RES", "POOL", "FOE",
                         "SHAREGROUP", "DATACLASSIFICATION", "APPLICATIONDEFINED"]
    assert lines[0].split()[1] == "pol"
    assert "KEY two words" in lines
    res = next(line for line in lines if line.startswith("RES ")).split()
    assert res[1] == "stu1" and len(res) == 11
    assert "CLIENT c1 Linux RedHat 2 0 0 0 ?" in lines
    # `bppllist P | grep INCLUDE | cut -d' ' -f2-` gives the paths back
    assert [line.split(" ", 1)[1] for line in lines if line.startswith("INCLUDE")] == \
        ["/etc", "/with space"]
    sched = lines.index(next(line for line in lines if line.startswith("SCHED ")))
    assert lines[sched + 1].startswith("SCHEDWIN ")  # the line after SCHED holds the windows
    assert tags[sched:] == ["SCHED", "SCHEDWIN", "SCHEDRES", "SCHEDPOOL", "SCHEDRL",
                            "SCHEDFOE", "SCHEDSG"]


def test_raw_sched_fields_by_position() -> None:
    s = weekly()
    s.sched_type, s.max_mpx, s.calendar, s.synthetic = 4, 2, 1, True
    s.copies = [Copy(3, fail_on_error=True), Copy(8, "stu2")]
    lines = policy_raw.schedule_lines(s)
    f = lines[0].split()
    assert f[1:6] == ["full", "4", "2", "604800", "3"]  # label type mpx frequency retention
    assert (f[11], f[12], f[13], f[14]) == ("1", "2", "1", "1")  # calendar copies foe synth
    win = next(line for line in lines if line.startswith("SCHEDWIN")).split()[1:]
    assert win == ["64800", "43200"] * 7
    rl = next(line for line in lines if line.startswith("SCHEDRL")).split()[1:]
    assert rl[:2] == ["3", "8"] and len(rl) == 10
    res = next(line for line in lines if line.startswith("SCHEDRES")).split()[1:]
    assert res[:3] == ["*NULL*", "stu2", "*NULL*"]


def test_raw_calendar_records() -> None:
    s = Schedule("c", calendar=2, included_dates=[datetime.date(2030, 12, 25)],
                 excluded_dates=[datetime.date(2031, 1, 1)], weekdays=[Weekday(1, 2),
                                                                      Weekday(5, 0)],
                 days_of_month=[15], last_day_of_month=True)
    lines = {line.split()[0]: line.split(" ", 1)[1] for line in policy_raw.schedule_lines(s)}
    assert lines["SCHEDCALENDAR"] == "1"  # retries after the run day
    assert lines["SCHEDCALDATES"] == str(int(time.mktime((2030, 12, 25, 0, 0, 0, 0, 0, -1))))
    assert "SCHEDCALEDATES" in lines
    assert lines["SCHEDCALDAYOFWEEK"].split(";") == ["1,2"] + [f"5,{w}" for w in range(1, 6)]
    assert lines["SCHEDCALDAYOFMONTH"] == "15 l"


def test_l_form_columns_and_labels() -> None:
    lines = policyfmt.policy_l(policy())
    assert lines[:3] == [policyfmt.RULE, "", "Policy Name:       pol"]
    by_label = {line.split(":")[0]: line for line in lines if ":" in line}
    for label in ("Policy Type", "Active", "Residence", "Volume Pool", "Max Jobs/Policy"):
        assert by_label[label][19] != " " and by_label[label][18] == " "
    assert by_label["Policy Type"][19:] == "Standard (0)"
    assert by_label["Active"][19:] == "yes"
    # PowerShell runbooks strip "Include:           " (19 characters) to get the path
    assert [line[19:] for line in lines if line.startswith("Include:")] == \
        ["/etc", "/with space"]
    clients = [line.split() for line in lines if line.startswith("Client/HW/OS/Pri")]
    assert [len(f) for f in clients] == [9, 9] and clients[0][1:5] == ["c1", "Linux", "RedHat",
                                                                      "2"]
    assert lines[-1] == ""


def test_l_schedule_block_as_parsers_read_it() -> None:
    block = schedule_text.schedule_l(weekly())
    assert block[0].split() == ["Schedule:", "full"]
    freq = next(line for line in block if line.strip().startswith("Frequency:")).split()
    assert len(freq) == 5 and freq[3] == "(604800"
    sch_re = re.compile(r"\s\s(\S.*?):\s*(.*)")
    attrs = dict(m.groups() for line in block if (m := sch_re.match(line)))
    assert attrs["Retention Level"] == "3 (1 month)" and attrs["Maximum MPX"] == "1"
    day_re = re.compile(r"\s{3}(\S+)\s+(\d+:\d+:\d+)\s+(\d+:\d+:\d+)")
    days = [m.groups() for line in block if (m := day_re.match(line))]
    assert days[0] == ("Sunday", "018:00:00", "030:00:00") and len(days) == 7
    assert re.search(r"(\d{3}:\d{2}:\d{2}\s*){4}", block[-1])
    assert block[-1].split()[3:] == ["162:00:00", "174:00:00"]  # Saturday in week hours


def test_u_schedule_block_as_parsers_read_it() -> None:
    s = weekly()
    s.copies = [Copy(3), Copy(9, "stu2")]
    block = schedule_text.schedule_u(s)
    text = "\n".join(block)
    assert re.search(r"Frequency:.+\((\d+) sec", text).group(1) == "604800"
    assert block[0].split() == ["Schedule:", "full"] and "Type:" in block[1]
    retention = [line.split("(")[1].rstrip(")") for line in block if "Retention Level:" in line]
    assert retention == ["1 month", "infinity"]
    trimmed = [line.strip() for line in block]
    windows = trimmed[trimmed.index("Daily Windows:") + 1:]
    assert [w.split("  -->  ")[0].split() for w in windows][:2] == [["Sunday", "18:00:00"],
                                                                     ["Monday", "18:00:00"]]
    assert windows[-1].split("  -->  ")[1].split() == ["Sunday", "06:00:00"]


def test_u_calendar_block() -> None:
    s = Schedule("cal", calendar=1, included_dates=[datetime.date(2030, 12, 25)],
                 weekdays=[Weekday(1, 1)], last_day_of_month=True)
    trimmed = [line.strip() for line in schedule_text.schedule_u(s)]
    start = trimmed.index("Calendar sched: Enabled")
    assert trimmed[start + 1] == "Included Dates-----------"
    end = trimmed.index("Excluded Dates----------")
    assert trimmed[start + 2:end] == ["12/25/2030", "Monday, Week 1", "Last day of the month"]
    assert not any(line.startswith("Frequency:") for line in trimmed)


def test_bpplinfo_l_values_at_column_24() -> None:
    lines = policyfmt.bpplinfo_l(policy())
    assert lines[1] == "Policy Type:            Standard (0)"
    assert next(line for line in lines if line.startswith("Active:"))[24:] == "yes"
    assert next(line for line in lines if line.startswith("Residence:"))[24:] == "stu1"


def test_u_clients_and_includes() -> None:
    lines = policyfmt.policy_u(policy())
    hw = next(line for line in lines if "HW/OS/Client:" in line)
    assert hw.split()[1:4] == ["Linux", "RedHat", "c1"]
    i = lines.index(hw)
    assert lines[i + 1].split() == ["Linux", "Debian", "c2"] and lines[i + 2] == ""
    inc = next(line for line in lines if line.startswith("  Include:"))
    assert inc == "  Include:  /etc" and lines[lines.index(inc) + 1].strip() == "/with space"


def test_expand_lists() -> None:
    spec = {"-weekday": 2, "-dayomonth": 1}
    args = ["P", "S", "-weekday", "Mon", "1", "Fri", "2", "-dayomonth", "1", "15", "l", "-ci"]
    assert policyfmt.expand_lists(args, spec) == [
        "P", "S", "-weekday", "Mon", "1", "-weekday", "Fri", "2", "-dayomonth", "1",
        "-dayomonth", "15", "-dayomonth", "l", "-ci"]
    assert policyfmt.expand_lists(["-weekday", "Mon"], spec) == ["-weekday", "Mon"]


def test_labelled_retention_names_the_configured_period() -> None:
    s = Schedule("full", copies=[Copy(retention=3), Copy(retention=9)])
    periods = {3: 45 * 86400, 9: None}
    u = schedule_text.schedule_u(s, periods)
    assert "    Retention Level:     3 (45 days)" in u
    assert "    Retention Level:     9 (infinity)" in u
    assert "  Retention Level: 3 (45 days)" in schedule_text.schedule_l(s, periods)
    # without the master's periods: NetBackup's defaults
    assert "    Retention Level:     3 (1 month)" in schedule_text.schedule_u(s)
    p = Policy("pol", schedules=[s])
    assert "    Retention Level:     3 (45 days)" in policyfmt.policy_lines(p, "U", periods)
