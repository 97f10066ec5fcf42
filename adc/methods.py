"""The method interface and registry, under the name method authors import: see :mod:`adc.core.methods`."""
from adc.core.methods import *  # noqa: F401,F403
from adc.core.methods import (CutShape, Method, create_method, discover, get_method, parse_setting_label,  # noqa: F401
                              register, registry, setting_label)
