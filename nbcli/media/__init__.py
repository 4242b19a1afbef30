"""The media server's per-job programs: bpbrm (backup and restore manager), bptm (tape and disk
manager, with the ring it shares with its child) and the disk storage unit they write.

May import the bottom floor, nbcli.wire, nbcli.net and the runtime modules (jobreport, ...);
never nbcli.catalog, daemons, client or commands: bpbrm and bptm reach the catalog and the other
hosts only over the wire (docs/architecture.md).
"""
