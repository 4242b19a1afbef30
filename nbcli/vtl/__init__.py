"""Tape: drives and changers, virtual (a library of SIMH .tap files under <root>/volmgr/vtl)
and real (Linux `st` through mtio ioctls, a SCSI changer through `mtx`).

A package of its own, below media and commands: bptm's tape storage backend and the `nbvtl`
command both use it. It imports only nbcli.status and nbcli.atomic - never catalog, net,
client, media, daemons or commands - so that every layer above may use it.

    api      the TapeDrive and Changer protocols, status and inventory records, errors
    simh     the .tap record format (pure)
    library  the virtual library: state file, locks, changer moves, faults
    vdrive   a virtual drive: st's semantics over a cartridge file
    spacing  moving over a cartridge's records and tape marks, with st's counters
    image    a cartridge file's reads and writes (pread, pwritev)
    mtio     a real drive: /dev/nst* through MTIOCTOP / MTIOCGET / MTIOCPOS
    mtx      a real changer: the mtx command, and the parser of its `status` output
"""
