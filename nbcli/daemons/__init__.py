"""The long-running daemons, one module per daemon (pbx_exchange, bpcd, nbemm, bpjobd, bpdbm,
nbproxy, nbrb, nbjm, nbpem, bprd, ltid, nbcmdd), on the daemon runtime in base.py.

May import every floor below (the bottom floor, wire, net, cli, launcher, procs, jobreport,
catalog, client, media, sched); never nbcli.commands (nbcmdd runs commands by name through
nbcli.programs). Nothing below imports this package (docs/architecture.md).
"""
