"""Every stage at the artwork's own size: the model decides the colours and the light, the full-size
first stage where the edges are (regions of its line art, edge-aware upsampling of the model's change)."""
from .regions import Segmentation, fill_strokes, line_regions, segment
from .render import render_stages
from .smooth import edge_aware_upsample

__all__ = ["Segmentation", "edge_aware_upsample", "fill_strokes", "line_regions", "render_stages", "segment"]
