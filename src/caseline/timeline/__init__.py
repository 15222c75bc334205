"""The assembled incident record: timeline, milestones, metrics, the `caseline.incident.v1` export and
its renderings. Reads incidents and evidence; never writes them."""

from __future__ import annotations

from caseline.timeline.assemble import Assembly, Entry, assemble, assemble_items
from caseline.timeline.export import IncidentExport, build_export, export_schema

__all__ = ["Assembly", "Entry", "IncidentExport", "assemble", "assemble_items", "build_export", "export_schema"]
