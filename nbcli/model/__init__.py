"""Pure records and text formats that bpdbm (the owner of the master's policy and
configuration files) and the commands that ask it both need.

Nothing here touches the disk, the network or the clock: a module of this package may import
only nbcli.status, kinds, timefmt and render (and other modules of this package).
"""
