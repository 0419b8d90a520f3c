"""Monitor-guided decoding: guides whose rules come from static analysis of the workspace."""

from ..lexer import Lexer, Trigger
from .choice import NameChoice
from .monitor import MonitorContext, MonitorStats, NameMonitor, StaticAnalysis
from .names import NameIndex

__all__ = ["Lexer", "MonitorContext", "MonitorStats", "NameChoice", "NameIndex", "NameMonitor", "StaticAnalysis", "Trigger"]
