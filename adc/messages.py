"""What crosses the cut, under the name method authors import: see :mod:`adc.core.messages`."""
from adc.core.messages import Message, smallest_int_dtype, tensor_nbytes  # noqa: F401
