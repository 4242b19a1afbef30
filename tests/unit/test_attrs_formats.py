"""bpconfig's, bpclient's and bpretlevel's displays, line by line, as scripts read them."""

from __future__ import annotations

import re

from nbcli import kinds
from nbcli.catalog.clientattrs import ClientAttrs
from nbcli.catalog.globals import Globals
from nbcli.commands import clientattrfmt, globalsfmt, retentionfmt

DEFAULT_U = """
Admin Mail Address:
Job Retry Delay:              10 minutes
Max Simultaneous Jobs/Client: 1
Backup Tries:                 2 in 12 hours
Keep Error/Debug Logs:        28 days
Max drives this master:       0
Keep TrueImageRecovery Info:  1 days
Compress Image DB Files:      (not enabled)
Media Mount Timeout:          0 minutes (unlimited)
Postprocess Image:            immediately
Display Reports:              24 hours ago
Preprocess Interval:          4 hours
Maximum Backup Copies:        2
Image DB Cleanup Interval:    12 hours
Image DB Cleanup Wait Time:   60 minutes
Policy Update Interval:       10 minutes"""

DEFAULT_L = """
Mail Admin:             *NULL*
Job Retry Delay:        10 minutes
Max Jobs/Client:        1
Backup Tries:           2 in 12 hours
Keep Error/Debug Logs:  28 days
Max drives/master:      0
Compress DB Files:      (not enabled)
Media Mnt Timeout:      0 minutes (unlimited)
Postprocess Image:      immediately
Display Reports:        24 hours ago
Keep TIR Info:          1 days
Prep Interval:          4 hours
Max Backup Copies:      2
DB Clean Interval:      12 hours
DB Clean Wait Time:     60 minutes
Policy Update Interval: 10 minutes"""

CHANGED = Globals(admin_mail="ops@example.com", job_retry_delay_minutes=30, tries=3,
                  period_hours=6, max_jobs_per_client=10, keep_logs_days=7,
                  compress_after_seconds=3 * 86400, media_mount_timeout_seconds=1800,
                  shared_mount_timeout_seconds=900, display_reports_hours=48,
                  keep_tir_days=2, prep_hours=0, max_copies=5, cleanup_interval_hours=24,
                  cleanup_wait_minutes=90, policy_update_minutes=15)


def test_bpconfig_defaults_in_three_forms() -> None:
    assert "\n".join(globalsfmt.show(Globals(), "U")) == DEFAULT_U
    assert "\n".join(globalsfmt.show(Globals(), "L")) == DEFAULT_L
    assert globalsfmt.show(Globals(), "l") == ["*NULL* 10 12 1 2 28 0 0 0 0 1 24 1 4 12 60 10 2"]


def test_bpconfig_user_form_as_scripts_read_it() -> None:
    lines = globalsfmt.show(CHANGED, "U")
    # NetBackupPS: line n, split at ":\s+", second part
    parts = [re.split(r":\s+", line) for line in lines]
    assert parts[1] == ["Admin Mail Address", "ops@example.com"]
    assert parts[2][1] == "30 minutes" and parts[3][1] == "10" and parts[4][1] == "3 in 6 hours"
    assert parts[7][1] == "2 days" and parts[8][1] == "older than 3 days"
    assert parts[9][1] == "30 minutes" and parts[11][1] == "48 hours ago"
    assert parts[12][1] == "0 hours" and parts[13][1] == "5" and parts[14][1] == "24 hours"
    assert parts[15][1] == "90 minutes" and parts[16][1] == "15 minutes"
    # grep 'Max Simultaneous Jobs/Client:' | awk '{print $4}'
    (line,) = [x for x in lines if "Max Simultaneous Jobs/Client:" in x]
    assert line.split()[3] == "10"
    assert all(len(x) > 30 and x[29] == " " and x[30] != " " for x in lines[1:])


def test_bpconfig_long_and_raw_forms_of_changed_values() -> None:
    long = dict(re.split(r":\s+", x, maxsplit=1) for x in globalsfmt.show(CHANGED, "L")[1:])
    assert long["Mail Admin"] == "ops@example.com" and long["Max Jobs/Client"] == "10"
    assert long["Backup Tries"] == "3 in 6 hours" and long["Keep TIR Info"] == "2 days"
    assert long["Max Backup Copies"] == "5" and long["Policy Update Interval"] == "15 minutes"
    (raw,) = globalsfmt.show(CHANGED, "l")
    assert raw.split() == ["ops@example.com", "30", "6", "10", "3", "7", "0", "259200", "1800",
                           "900", "1", "48", "2", "0", "24", "90", "15", "5"]
    odd = Globals(compress_after_seconds=86401)
    assert "older than 86401 seconds" in "\n".join(globalsfmt.show(odd, "U"))


CLIENT = ClientAttrs("web01", max_jobs=4, current_host="web01-b", ip_address="10.0.0.5",
                     port=1556, dynamic_address=True, free_browse=1, list_restore=2,
                     connect_options=[1, 0, 2], offline_backup=True)


def test_bpclient_long_block_is_20_lines_with_hostname_third() -> None:
    blocks = clientattrfmt.show([ClientAttrs("c1"), CLIENT], "L")
    assert len(blocks) == 40
    # the Perl idiom: read 20 lines, ($FlStr[2] =~ /Hostname: (.*)/)
    hosts = [re.search(r"Hostname: (.*)", blocks[i + 2]).group(1)  # type: ignore[union-attr]
             for i in range(0, 40, 20)]
    assert hosts == ["c1", "web01-b"]
    second = dict(x.strip().split(": ", 1) for x in blocks[20:] if ": " in x)
    assert blocks[20] == "Client Name: web01" and blocks[21] == "Current Host:"
    assert second["IP Address"] == "10.0.0.5" and second["Connect on port"] == "1556"
    assert second["Dynamic Address"] == "yes" and second["Free Browse"] == "Deny"
    assert second["List Restore"] == "List Only" and second["Max Jobs This Client"] == "4"
    assert second["Connect options"] == "1 0 2" and second["Offline Backup"] == "yes"
    assert second["Offline Restore"] == "no"
    first = dict(x.strip().split(": ", 1) for x in blocks[:20] if ": " in x)
    assert first["Max Jobs This Client"] == "Not Specified"
    assert first["IP Address"] == "0.0.0.0" and first["Free Browse"] == "Allow"
    assert first["List Restore"] == "Not Specified" and first["Connect options"] == "2 2 3"


def test_bpclient_raw_lines() -> None:
    assert clientattrfmt.show([ClientAttrs("c1"), CLIENT], "l") == [
        "CLIENT c1 c1 *NULL* 0 0 0 0 -1 2 2 3 0 0",
        "CLIENT web01 web01-b 10.0.0.5 1556 1 1 2 4 1 0 2 1 0"]


ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+\(\s*(\d+)\)\s+(.+)$")  # MARS's bpretlevel pattern


def test_bpretlevel_long_form_as_parsers_read_it() -> None:
    levels = [(n, kinds.default_period(n)) for n in range(101)]
    lines = retentionfmt.show(levels, "L")
    header = [x for x in lines if not ROW.match(x)]
    assert [x[0] for x in header] == ["R", "L", "-"] and lines[:3] == header
    rows = [ROW.match(x).groups() for x in lines[3:]]  # type: ignore[union-attr]
    assert len(rows) == 101
    assert rows[0] == ("0", "7", "604800", "1 week")
    assert rows[1] == ("1", "14", "1209600", "2 weeks")
    assert rows[8] == ("8", "365", "31536000", "1 year")
    assert rows[9] == ("9", "24855", "2147483647", "infinity")
    assert rows[25] == ("25", "0", "0", "expires immediately")
    assert rows[100] == ("100", "24855", "2147483647", "infinity")
    assert lines[3] == "   0      7 (     604800) 1 week"


def test_bpretlevel_raw_and_user_forms() -> None:
    levels = [(0, 36 * 3600), (9, None), (25, 0)]
    assert retentionfmt.show(levels, "l") == ["0 1 129600 36 hours",
                                              "9 24855 2147483647 infinity",
                                              "25 0 0 expires immediately"]
    user = retentionfmt.show(levels, "U")
    assert user[0].startswith("Retention Level") and set(user[1]) == {"-", " "}
    assert [x.split(None, 1) for x in user[2:]] == [["0", "36 hours"], ["9", "infinity"],
                                                   ["25", "expires immediately"]]
