"""Old path of `connectors.cps.modbus`, kept so existing imports work.

At run time the module object is the same (`sys.modules` alias), so patching
an attribute here patches the transport itself; the names are re-exported for
type checkers.
"""

import sys

from .cps import modbus as _module
from .cps.modbus import (
    BLOCK_COUNT,
    BLOCK_START,
    DEFAULT_PORT,
    FRAMINGS,
    HOLDING_COUNT,
    HOLDING_START,
    WORD_ORDERS,
    CpsModbusConnector,
    decode_block,
    failure_text,
)

__all__ = [
    "BLOCK_COUNT",
    "BLOCK_START",
    "DEFAULT_PORT",
    "FRAMINGS",
    "HOLDING_COUNT",
    "HOLDING_START",
    "WORD_ORDERS",
    "CpsModbusConnector",
    "decode_block",
    "failure_text",
]

sys.modules[__name__] = _module
