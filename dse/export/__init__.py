"""`dse export`: a quantized run as a self-contained C99 inference library (see README, "Export to C")."""

from .model import ExportError, load_export_model
from .writer import export_run

__all__ = ["ExportError", "export_run", "load_export_model"]
