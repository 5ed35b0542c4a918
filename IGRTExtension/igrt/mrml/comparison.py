"""Visual comparison in the slice views: fusion, checkerboard, difference and flicker as MRML.

Everything here is MRML-only. The checkerboard and difference volumes are computed on the planning
grid, from the daily image resampled through the result (``igrt.registration.compare.planning_to_daily_transform``).
Slice composite nodes exist only inside the Slicer application (its layout creates them); under the
``slicer-core`` wheel there are none and only the volumes and colour nodes are prepared.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from igrt.mrml import volumes
from igrt.registration import compare

MODES = ("fusion", "checkerboard", "difference", "flicker")
#: Two-colour fusion (igrt.registration.compare.fusion_rgb uses the same pair): planning magenta, daily green.
PLANNING_RGB = (1.0, 0.0, 1.0)
DAILY_RGB = (0.0, 1.0, 0.0)
CHECKER_SQUARE_MM = 20.0


def daily_on_planning_grid(result, planning: sitk.Image, daily: sitk.Image, default=np.nan) -> sitk.Image:
    """The daily image resampled onto the planning grid through the result (NaN outside its field)."""
    transform = compare.planning_to_daily_transform(
        result.matrix_lps, result.planning_isocenter_lps, result.daily_isocenter_lps
    )
    return sitk.Resample(daily, planning, transform, sitk.sitkLinear, float(default), sitk.sitkFloat32)


def checkerboard_3d(planning: np.ndarray, daily: np.ndarray, square_px) -> np.ndarray:
    """3-D checkerboard of two same-shape (k, j, i) arrays; ``square_px`` per axis (k, j, i).

    ``igrt.registration.compare.checkerboard`` is 2-D (display slices); the slice views need a volume.
    """
    kk, jj, ii = np.indices(planning.shape)
    sk, sj, si = (max(1, int(s)) for s in square_px)
    take_planning = ((kk // sk) + (jj // sj) + (ii // si)) % 2 == 0
    return np.where(take_planning | ~np.isfinite(daily), planning, daily)


def _like(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.CopyInformation(reference)
    return image


def comparison_images(result, planning: sitk.Image, daily: sitk.Image) -> dict:
    """Checkerboard and difference (daily − planning after the linear HU match) on the planning grid."""
    p = sitk.GetArrayFromImage(sitk.Cast(planning, sitk.sitkFloat32))
    d = sitk.GetArrayFromImage(daily_on_planning_grid(result, planning, daily))
    d = compare.match_intensity(d, p)
    square = [CHECKER_SQUARE_MM / s for s in reversed(planning.GetSpacing())]
    diff = compare.difference(p, d)
    return {
        "checkerboard": _like(checkerboard_3d(p, d, square), planning),
        "difference": _like(np.where(np.isfinite(diff), diff, 0.0), planning),
    }


def fusion_color_node(scene, name: str, rgb, node=None):
    """A black→``rgb`` ramp colour table for two-colour fusion (built here: slicer-core has no presets)."""
    if node is None:
        node = scene.GetFirstNodeByName(name)
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLColorTableNode", name)
    node.SetTypeToUser()
    node.SetNumberOfColors(256)
    for i in range(256):
        f = i / 255.0
        node.SetColor(i, f"{i}", rgb[0] * f, rgb[1] * f, rgb[2] * f, 1.0)
    node.SetAttribute("IGRT.Role", "fusion colour")
    return node


def _set_colour(volume_node, color_node) -> None:
    display = volume_node.GetDisplayNode()
    if display is None:
        volume_node.CreateDefaultDisplayNodes()
        display = volume_node.GetDisplayNode()
    display.SetAndObserveColorNodeID(color_node.GetID() if color_node is not None else None)


def _difference_colour(scene):
    """Blue–white–red-ish diverging table for the difference volume (0 HU in the middle)."""
    node = scene.GetFirstNodeByName("IGRT difference colours")
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLColorTableNode", "IGRT difference colours")
        node.SetTypeToUser()
        node.SetNumberOfColors(256)
        for i in range(256):
            f = i / 255.0 * 2.0 - 1.0
            r, g, b = (1.0, 1.0 - f, 1.0 - f) if f >= 0 else (1.0 + f, 1.0 + f, 1.0)
            node.SetColor(i, f"{i}", r, g, b, 1.0)
    return node


def slice_composite_nodes(scene) -> list:
    """The slice composite nodes of the views (empty outside the application)."""
    nodes = scene.GetNodesByClass("vtkMRMLSliceCompositeNode")
    return [nodes.GetItemAsObject(i) for i in range(nodes.GetNumberOfItems())]


def _grey(scene):
    """Slicer's default grey colour table when the application created it, else None (keep as is)."""
    return scene.GetNodeByID("vtkMRMLColorTableNodeGrey")


def show(scene, mode: str, planning_node, daily_node, nodes: dict, opacity: float = 0.5) -> int:
    """Set every slice view to ``mode`` (nodes from :func:`prepare`); returns the number of views set up.

    Fusion colours the planning image magenta and the daily image green (aligned anatomy looks grey);
    the other modes put both back in grey when the application's grey table exists.
    Under slicer-core there are no views: only the colours change and 0 is returned.
    """
    if mode not in MODES:
        raise ValueError(f"unknown comparison mode {mode!r}; use one of {', '.join(MODES)}")
    if mode == "fusion":
        _set_colour(planning_node, nodes["planning_colour"])
        _set_colour(daily_node, nodes["daily_colour"])
    elif _grey(scene) is not None:
        _set_colour(planning_node, _grey(scene))
        _set_colour(daily_node, _grey(scene))
    background, foreground, fg_opacity = planning_node, daily_node, opacity
    if mode == "flicker":
        fg_opacity = 1.0  # the widget toggles it between 0 and 1 (set_flicker_phase)
    elif mode in ("checkerboard", "difference"):
        background, foreground, fg_opacity = nodes[mode], None, 0.0
    views = slice_composite_nodes(scene)
    for composite in views:
        composite.SetBackgroundVolumeID(background.GetID() if background is not None else None)
        composite.SetForegroundVolumeID(foreground.GetID() if foreground is not None else None)
        composite.SetForegroundOpacity(fg_opacity)
    return len(views)


def set_flicker_phase(scene, show_daily: bool) -> None:
    """One flicker frame: the daily image fully on top, or hidden."""
    for composite in slice_composite_nodes(scene):
        composite.SetForegroundOpacity(1.0 if show_daily else 0.0)


def prepare(scene, result, planning_node, daily_node, nodes: dict | None = None) -> dict:
    """Create or update the comparison volumes and colour nodes; returns them by name.

    ``nodes`` holds nodes from a previous call to update in place (keys as returned).
    """
    nodes = dict(nodes or {})
    images = comparison_images(
        result, volumes.image_from_node(planning_node), volumes.image_from_node(daily_node)
    )
    nodes["checkerboard"] = volumes.node_from_image(
        scene, images["checkerboard"], "IGRT checkerboard", nodes.get("checkerboard")
    )
    nodes["difference"] = volumes.node_from_image(
        scene, images["difference"], "IGRT difference (daily - planning)", nodes.get("difference")
    )
    nodes["planning_colour"] = fusion_color_node(scene, "IGRT planning (magenta)", PLANNING_RGB)
    nodes["daily_colour"] = fusion_color_node(scene, "IGRT daily (green)", DAILY_RGB)
    _set_colour(nodes["difference"], _difference_colour(scene))
    diff_display = nodes["difference"].GetDisplayNode()
    diff_display.AutoWindowLevelOff()
    diff_display.SetWindowLevel(1000.0, 0.0)
    return nodes
