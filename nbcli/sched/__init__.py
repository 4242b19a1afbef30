"""nbpem's scheduling logic, as a pure library: windows, run days, what is due, predictions.

    windows.py   start windows in local time (window_at, next_window)
    rundays.py   run days of calendar-based schedules
    due.py       Due, History, due_now: what nbpem starts now (its loop calls this)
    predict.py   predict: what nbpem would start between two times (nbpemreq -predict)
    ops.py       nbpem's "predict" and "due" ops: the above fed from the policy store and
                 the catalog (the only module here that does I/O)

The rules are written down in docs/protocol.md, "Scheduling". Nothing here reads the clock:
callers pass the time, so tests and nbpemreq can ask about any moment.

May import the bottom floor, nbcli.net and nbcli.catalog (the policy store, for ops); never
nbcli.daemons or nbcli.commands: nbpem imports it (docs/architecture.md).
"""

from nbcli.sched.due import Attempts, Due, History, due_now
from nbcli.sched.windows import next_window, window_at

__all__ = ["Attempts", "Due", "History", "due_now", "next_window", "window_at"]
