"""bpimmedia's -l lines and media filter, without daemons: the lines reproduce NetBackup's
sample (reference/netbackup-cli.md §1.6) field by field, and each field is the one
bpimagelist -l prints under the same name (§1.5)."""

from __future__ import annotations

from typing import Any

import pytest

from nbcli.commands import imagefmt
from nbcli.commands.bpimagelist import time_range
from nbcli.commands.bpimmedia import FRAG_PICK, IMAGE_PICK, image_lines, medium_filter
from nbcli.status import INVALID_PARAMETER, NbuError

# bpimagelist -l's field names (reference §1.5, Veritas article 100017904), in order.
BPIMAGELIST_IMAGE = (
    "client_name date1 date2 version backupid policy_name client_type proxy_client creator "
    "sched_label sched_type retention backup_time elapsed expiration compression encryption "
    "kbytes num_files copies num_fragments files_compressed files_file version name1 options "
    "primary image_type tir_info tir_expiration keywords mpx ext_security raw dump_lvl "
    "fs_only prev_BItime BIfull_time obj_desc requestID backup_stat backup_copy prev_image "
    "jobid num_resumes resume_expr ff_size pfi_type image_attrib ss_classification_id ss_name "
    "ss_completed snap_time slp_version remoteExpiration origin_master_server "
    "origin_master_guid ir_enabled client_charset hold kilobytes_data_transferred "
    "image_dteMode intelligent_catalog_archiving resilient_expiration malware_scan_result "
    "image_group_key").split()
BPIMAGELIST_FRAG = (
    "copy_num frag_num KB remainder media_type density file_num id host block_size offset "
    "media_date dev_written f_flags media_desc expiration mpx ret_level checkpoint resume_nbr "
    "media_seq_no media_subtype ss_try_to_keep_date copy_date fragment_state data_format "
    "kms_key_tag slp_dest_tag mirror_parent copy_on_hold copy_dtemode hierarchical_dtemode "
    "copy_worm_lock_flags copy_worm_unlock_time held_for_dependent_copy").split()
# bpimmedia -l's (reference §1.6, from MARS's bpimmedia table), with the name bpimagelist
# gives the same field where it differs.
BPIMMEDIA_IMAGE = ("client_name version backupid policy_name client_type sched_label "
                   "sched_type retention num_files expiration compression encryption "
                   "hold").split()
BPIMMEDIA_FRAG = ("copy_num frag_num KB remainder media_type density file_num id host "
                  "block_size offset media_date dev_written f_flags media_desc expiration mpx "
                  "ret_level checkpoint copy_on_hold").split()

# NetBackup's own sample (myfaqbase's "bpimmedia fields" page):
#   # bpimmedia -l -policy regr1_gava -t FULL
SAMPLE_IMAGE = "IMAGE gava 3 gava_0949949902 regr1_gava 0 full 0 3 25 952628302 0 0"
SAMPLE_FRAG = ("FRAG 1 1 10256 512 2 13 13 A00002 plim 65536 0 949616279 0 0 *NULL* "
               "952628302 1")


def header(**over: Any) -> dict[str, Any]:
    """An image as bpdbm's image_list sends it: the sample's, on tape A00002."""
    h: dict[str, Any] = {
        "client": "gava", "version": 3, "backupid": "gava_0949949902", "policy": "regr1_gava",
        "policy_type": 0, "sched_label": "full", "sched_type": 0, "retention_level": 3,
        "backup_time": 949616279, "elapsed": 12, "expiration": 952628302, "kbytes": 10256,
        "num_files": 25, "files_file": "gava_0949949902_FULL.f", "tir": 0, "keyword": "",
        "jobid": 4, "ff_size": 900, "block_size": 65536,
        "fragments": [{"num": 1, "offset": 0, "bytes": 10256 * 1024 + 512, "host": "plim",
                       "path": "", "media_id": "A00002", "file_num": 13, "block_offset": 0,
                       "block_size": 65536, "density": 13}]}
    h.update(over)
    return h


def test_the_picked_fields_are_the_documented_ones() -> None:
    assert len(imagefmt.image_fields(header())) == len(BPIMAGELIST_IMAGE)
    assert len(imagefmt.frag_fields(header(), header()["fragments"][0])) == \
        len(BPIMAGELIST_FRAG)
    assert [BPIMAGELIST_IMAGE[i] for i in IMAGE_PICK] == BPIMMEDIA_IMAGE
    assert [BPIMAGELIST_FRAG[i] for i in FRAG_PICK] == BPIMMEDIA_FRAG


def test_the_lines_reproduce_netbackups_sample() -> None:
    image, frag = image_lines(header(), header()["fragments"])
    # 13 IMAGE fields: the sample's 12 and hold (0: nbcli holds no image)
    assert image.split() == SAMPLE_IMAGE.split() + ["0"]
    # 20 FRAG fields: the sample's first 16 (its mpx, 1, is a multiplexed image: nbcli's
    # are not), then mpx, retention level, checkpoint and copy_on_hold
    assert frag.split()[:17] == SAMPLE_FRAG.split()[:17]
    assert frag.split()[17:] == ["0", "3", "0", "0"]


def test_a_disk_fragment_is_its_path_and_offset() -> None:
    h = header(fragments=[{"num": 2, "offset": 7 << 20, "bytes": 3000, "host": "aio",
                           "path": "/stu/aio_1_C1_F2"}])
    (frag,) = image_lines(h, h["fragments"])[1:]
    f = frag.split()
    assert (f[5], f[6], f[7], f[8], f[9], f[10], f[11]) == (
        "0", "0", "0", "/stu/aio_1_C1_F2", "aio", "65536", str(7 << 20))
    assert (f[3], f[4]) == ("2", str(3000 % 1024))


def test_only_the_fragments_asked_for() -> None:
    tape = {"media_id": "A00001", "host": "aio", "path": ""}
    disk = {"media_id": "", "host": "media2", "path": "/stu/aio_1_C1_F1"}
    for (mediaid, where, server), want in (
            ((None, None, None), [tape, disk]),
            (("a00001", None, None), [tape]),
            (("A00002", None, None), []),
            (("/stu", None, None), [disk]),
            (("/stu/", None, None), [disk]),
            (("/stu/aio_1_C1_F1", None, None), [disk]),
            (("/st", None, None), []),
            ((None, "tape", None), [tape]),
            ((None, "disk", None), [disk]),
            (("A00001", "disk", None), []),
            ((None, None, "media2"), [disk])):
        keep = medium_filter(mediaid, where, server)
        assert [f for f in (tape, disk) if keep(f)] == want, (mediaid, where, server)


@pytest.mark.parametrize("bad", ["", "TOOLONG1", "A 0001X"])
def test_a_media_id_has_one_to_six_characters(bad: str) -> None:
    with pytest.raises(NbuError) as e:
        medium_filter(bad, None, None)
    assert e.value.status == INVALID_PARAMETER


def test_without_dates_every_image_whatever_its_age() -> None:
    assert time_range(None, None, None, None, window=None) == (None, None)
    start, _ = time_range(None, None, 2, None, window=None)
    assert start is not None
    # bpimagelist's own default stays the last 24 hours
    start, _ = time_range(None, None, None, None)
    assert start is not None
