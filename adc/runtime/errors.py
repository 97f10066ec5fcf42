"""The errors a run reports to the command line (one line each, no traceback)."""


class NonFiniteError(RuntimeError):
    """A non-finite loss or gradient (checked at each epoch's end, without per-step synchronisation)."""


class Interrupted(Exception):
    """Stopped by a signal; the checkpoint is saved and a rerun resumes."""


class OutputError(ValueError):
    """A run's file that cannot be written or read back (a full disk, a read-only folder, a corrupt
    checkpoint); the message names the path and the fix. A ValueError, so every caller that reports
    bad input in one line reports it too."""
