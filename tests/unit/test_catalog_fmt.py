"""bpimagelist and bplist renderers: the field positions and columns runbooks depend on."""

from __future__ import annotations

import time

from nbcli.commands import imagefmt
from nbcli.kinds import INFINITY

HEADER = {"version": 11, "backupid": "client1_1700000000", "client": "client1",
          "policy": "daily_fs", "policy_type": 0, "sched_label": "full", "sched_type": 0,
          "retention_level": 3, "backup_time": 1700000000, "elapsed": 95,
          "expiration": 1702678400, "kbytes": 123456, "num_files": 789,
          "files_file": "daily_fs_1700000000_FULL.f", "ff_size": 4321, "jobid": 42, "tir": 1,
          "keyword": "two words", "stu": "disk1", "media_server": "media1",
          "checksum": "crc32:0badf00d", "block_size": 65536, "stream_bytes": 126418944,
          "fragments": [{"num": 1, "offset": 0, "bytes": 100000000, "host": "media1",
                         "path": "/stu/client1_1700000000_C1_F1"},
                        {"num": 2, "offset": 100000000, "bytes": 26418944, "host": "media1",
                         "path": "/stu/client1_1700000000_C1_F2"}]}


def test_raw_form_keeps_the_awk_positions_runbooks_use() -> None:
    image, histo, frag1, frag2 = imagefmt.raw_lines(HEADER)
    f = image.split()
    assert len(f) == 67 and f[0] == "IMAGE"
    # $2 client, $6 backup id, $7 policy, $11 label, $12 type, $14 time, $15 elapsed,
    # $16 expiration, $19 kilobytes, $20 files
    assert (f[1], f[5], f[6], f[10], f[11]) == ("client1", "client1_1700000000", "daily_fs",
                                                "full", "0")
    assert (f[13], f[14], f[15], f[18], f[19]) == ("1700000000", "95", "1702678400", "123456",
                                                   "789")
    assert f[21] == "2" and f[23] == "daily_fs_1700000000_FULL.f"  # fragments, files file
    assert f[29] == "1" and f[31] == "two_words" and f[44] == "42"  # tir, keyword, job id
    assert histo == "HISTO -1 -1 -1 -1 -1 -1 -1 -1 -1 -1"
    g = frag2.split()
    assert len(g) == 36 and frag1.split()[2] == "1"
    assert (g[0], g[1], g[2], g[3], g[3 + 5]) == ("FRAG", "1", "2", str(26418944 // 1024),
                                                  "/stu/client1_1700000000_C1_F2")
    assert (g[4], g[9], g[10], g[11]) == (str(26418944 % 1024), "media1", "65536", "100000000")


def test_user_form_has_netbackup_header_and_columns() -> None:
    inf = dict(HEADER, expiration=INFINITY, sched_type=4, policy="p2", kbytes=5, num_files=1)
    lines = imagefmt.table_lines([HEADER, inf])
    assert lines[:2] == imagefmt.U_HEADER
    row = lines[2]
    assert row.startswith(time.strftime("%m/%d/%Y %H:%M", time.localtime(1700000000)) + "  ")
    assert row[18:28] == time.strftime("%m/%d/%Y", time.localtime(1702678400))
    assert row[29:37] == "     789" and row[38:46] == "  123456"
    assert row[48] == "N" and row[51:63] == "Full Backup " and row[64:] == "daily_fs"
    assert lines[3][18:28] == "INFINITY  " and lines[3][51:63] == "Cumulative I"
    assert lines[3].split()[4] == "5"  # KB is field 5 for awk '{sum+=$5}'


def test_long_and_idonly_forms_label_every_value() -> None:
    lines = imagefmt.long_lines(HEADER)
    assert "Backup ID:         client1_1700000000" in lines
    assert "Retention Level:   1 month (3)" in lines
    assert "Number of Files:   789" in lines and "Kilobytes:         123456" in lines
    assert " ID:               /stu/client1_1700000000_C1_F2" in lines
    assert imagefmt.idonly_line(HEADER) == \
        f"Time: {time.ctime(1700000000)}  ID: client1_1700000000  FULL"


def test_bplist_long_lines_are_mode_owner_group_size_date_path() -> None:
    mtime = 1700000000
    cols = {"path": ["/etc", "/etc/hosts", "/etc/ln", "/bin/x"], "type": ["5", "0", "2", "0"],
            "mode": [0o755, 0o644, 0o777, 0o4755], "uname": ["root", "alice", "root", "root"],
            "gname": ["root", "staff", "root", "bin"], "size": [0, 1234, 0, 9],
            "mtime_ns": [mtime * 10**9] * 4}
    dates = imagefmt.DateCache()
    lines = imagefmt.long_file_lines(cols, True, dates, backup_time=False)
    t = time.localtime(mtime)
    date = f"{imagefmt.MONTHS[t.tm_mon - 1]} {t.tm_mday:>2} {t.tm_hour:02d}:{t.tm_min:02d}"
    f = lines[1].split()
    assert f[:4] == ["-rw-r--r--", "alice", "staff", "1234"]
    assert " ".join(f[4:7]) == " ".join(date.split()) and f[7] == "/etc/hosts"
    assert lines[0].startswith("drwxr-xr-x ") and lines[0].endswith(" /etc/")
    assert lines[2].startswith("lrwxrwxrwx ") and lines[2].endswith(" /etc/ln@")
    assert lines[3].startswith("-rwsr-xr-x ") and lines[3].endswith(" /bin/x*")
    assert imagefmt.plain_lines(cols, False) == cols["path"]
    assert imagefmt.plain_lines(cols, True) == ["/etc/", "/etc/hosts", "/etc/ln@", "/bin/x*"]
    by_backup = imagefmt.long_file_lines(dict(cols, backup_time=[0] * 4), False, dates, True)
    assert time.strftime("%b", time.localtime(0)) in by_backup[1]
