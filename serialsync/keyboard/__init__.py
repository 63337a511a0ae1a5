"""Typing into a board: one ordered outbox and writer per console, and the pacers.

Imports errors and _time only; knows nothing of markers, groups or transports
(it is given a function that writes bytes).
"""

from .pacers import ERASE, KILL, EchoPacer, FixedPacer, Pacer, make_pacer
from .typist import Keyboard

__all__ = ["ERASE", "KILL", "EchoPacer", "FixedPacer", "Keyboard", "Pacer", "make_pacer"]
