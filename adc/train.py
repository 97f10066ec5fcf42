"""``python -m adc.train``: the command line (:mod:`adc.runtime.cli`); the loop is :mod:`adc.runtime.loop`.

Kept so that the documented command and ``from adc.train import train, SplitRun`` stay valid.
"""
import sys

from adc.runtime.cli import build_parser, config_from_args, main, train  # noqa: F401


def __getattr__(name):               # the loop's names, imported only when asked for (keeps --help fast)
    if name.startswith("__"):       # e.g. __path__, which `from adc.train import main` asks for
        raise AttributeError(f"module 'adc.train' has no attribute {name!r}")
    from adc.runtime import loop
    return getattr(loop, name)


if __name__ == "__main__":
    sys.exit(main())
