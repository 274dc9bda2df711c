"""Seeing graphs: ``to_dot`` (Graphviz DOT text, no dependency), ``render`` and
``render_passes`` (SVG, PNG or PDF files through the ``viz`` extra and ``dot``), and ``html`` /
``show`` (the interactive viewer: one self-contained HTML file with the optimizer's filmstrip).
In Jupyter, graphs show themselves as pictures, or in the viewer.
"""

from .dot import CLASSES, MARKS, REPR_MAX_NODES, node_class, render, render_passes, to_dot
from .viewer import html, show, viewer_data

__all__ = ["to_dot", "render", "render_passes", "node_class", "html", "show", "viewer_data",
           "CLASSES", "MARKS", "REPR_MAX_NODES"]
