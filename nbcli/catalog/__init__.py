"""The master's stores, each owned by the daemon that serves it: the image catalog (bpdbm),
jobs (bpjobd), EMM (nbemm), policies and the global, client and retention settings.

May import the bottom floor (status, kinds, timefmt, render, model, atomic, clock, config);
never nbcli.net, nbcli.daemons, nbcli.client, nbcli.media or nbcli.commands: the catalog serves,
it calls nobody. Daemons import it; commands ask the daemons (docs/architecture.md).
"""
