"""The errors a run reports to the command line (one line each, no traceback)."""


class NonFiniteError(RuntimeError):
    """A non-finite loss or gradient (checked at each epoch's end, without per-step synchronisation)."""


class Interrupted(Exception):
    """Stopped by a signal; the checkpoint is saved and a rerun resumes."""
