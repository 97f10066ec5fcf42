import sys

from adc.runtime.cli import main

sys.exit(main())
