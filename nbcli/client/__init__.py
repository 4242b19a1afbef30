"""The client side of the data path: bpbkar (backup agent) and tar-restore (restore agent).

Layers, each importing only those before it: tarstream (the tar format, no I/O) -> blocks,
scan, streamreader, destination -> imagewriter, untar -> backup -> agent (control channel)
-> bpbkar, tar_restore (the programs). May import the bottom floor, nbcli.wire, nbcli.net and
nbcli.cli; nothing here imports nbcli.media, nbcli.daemons or nbcli.catalog: the agents meet
the media server only through the protocol (docs/protocol.md, docs/architecture.md).
"""
