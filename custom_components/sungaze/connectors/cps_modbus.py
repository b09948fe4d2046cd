"""Old path of `connectors.cps.modbus`, kept so existing imports work.

At run time the module object is the same (`sys.modules` alias), so patching
an attribute here patches the transport itself; the names are re-exported for
type checkers.
"""

import sys

from .cps import modbus as _module
from .cps.modbus import (
    BLOCK_COUNT as BLOCK_COUNT,
    BLOCK_START as BLOCK_START,
    DEFAULT_PORT as DEFAULT_PORT,
    FRAMINGS as FRAMINGS,
    HOLDING_COUNT as HOLDING_COUNT,
    HOLDING_START as HOLDING_START,
    WORD_ORDERS as WORD_ORDERS,
    CpsModbusConnector as CpsModbusConnector,
    decode_block as decode_block,
    failure_text as failure_text,
)

sys.modules[__name__] = _module
