"""Visual comparison in the slice views: fusion, checkerboard, difference, flicker and contours as MRML.

Everything here is MRML-only. The checkerboard and difference volumes are computed on the planning
grid, from the daily image resampled through the result (``igrt.registration.compare.planning_to_daily_transform``).
The contours are the planning structures — a segmentation node (SlicerRT's RTSTRUCT import, or any
segmentation of the planning image) — as a label map on the planning grid drawn in outline over the
daily image, which the result transform brings onto the plan: the structures where the plan has them,
the daily anatomy where the match puts it. Without a segmentation they are the planning image's body
and bone outlines (HU thresholds, ``igrt.registration.compare.DEFAULT_CONTOURS``), and say so by name.
Slice composite nodes exist inside the Slicer application (its layout creates them) or where slice
logics were made on the scene (``igrt.mrml.slice_views``); without any only the volumes and colour nodes
are prepared.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from igrt.mrml import volumes
from igrt.registration import compare

MODES = ("fusion", "checkerboard", "difference", "flicker", "contours")
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


def contour_labels(planning: sitk.Image) -> sitk.Image:
    """Label map of the planning structures outlined in "contours" mode: 1 body, 2 bone (HU thresholds).

    Labels follow ``igrt.registration.compare.DEFAULT_CONTOURS`` (the report's contour panels): a voxel at
    or above a structure's HU threshold gets its label, the higher threshold winning.
    """
    p = sitk.GetArrayFromImage(sitk.Cast(planning, sitk.sitkFloat32))
    labels = np.zeros(p.shape, np.uint8)
    for label, (hu, _) in enumerate(sorted(compare.DEFAULT_CONTOURS.values(), key=lambda v: v[0]), start=1):
        labels[p >= hu] = label
    image = sitk.GetImageFromArray(labels)
    image.CopyInformation(planning)
    return image


def structure_contour_labels(structures_node, planning_node, structures=None) -> tuple[sitk.Image, list]:
    """Label map of the segments of ``structures_node`` on the planning grid, and its legend.

    Each segment goes through the core rule (:func:`igrt.dose.sampling.structures_label_map`: voxels at
    least half inside, the smaller structure drawn over the larger). ``structures``: the segments already
    exported on the planning grid (``igrt.mrml.dose.structures_from_segmentation``), else exported here.
    Legend: ``(label, name, rgb 0–255)``.
    """
    from igrt.dose.sampling import structures_label_map
    from igrt.mrml.dose import structures_from_segmentation

    if structures is None:
        structures = structures_from_segmentation(structures_node, reference_volume_node=planning_node)
    return structures_label_map(structures.structures, volumes.image_from_node(planning_node))


def _label_color_node(scene, name: str, entries, node=None):
    """A colour table for an outlined label map: 0 transparent, then ``(label, name, rgb 0–1)`` each."""
    if node is None:
        node = scene.GetFirstNodeByName(name)
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLColorTableNode", name)
    node.SetTypeToUser()
    node.SetNumberOfColors(len(entries) + 1)
    node.SetColor(0, "background", 0.0, 0.0, 0.0, 0.0)
    for label, structure, rgb in entries:
        node.SetColor(label, structure, *rgb, 1.0)
    return node


def structure_color_node(scene, legend, node=None):
    """Colour table of :func:`structure_contour_labels`: each segment's colour (yellow when it has none)."""
    entries = [
        (label, structure, tuple(c / 255.0 for c in rgb) if rgb is not None else (1.0, 1.0, 0.0))
        for label, structure, rgb in legend
    ]
    return _label_color_node(scene, "IGRT planning structures colours", entries, node)


def contour_color_node(scene, node=None):
    """Colour table of :func:`contour_labels`: each HU structure's outline colour."""
    structures = sorted(compare.DEFAULT_CONTOURS.items(), key=lambda item: item[1][0])
    entries = [(label, name, rgb) for label, (name, (_, rgb)) in enumerate(structures, start=1)]
    return _label_color_node(scene, "IGRT planning contours colours", entries, node)


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
    elif mode == "contours":
        background, foreground, fg_opacity = daily_node, None, 0.0
    contours = nodes.get("contours")
    views = slice_composite_nodes(scene)
    for composite in views:
        composite.SetBackgroundVolumeID(background.GetID() if background is not None else None)
        composite.SetForegroundVolumeID(foreground.GetID() if foreground is not None else None)
        composite.SetForegroundOpacity(fg_opacity)
        if mode == "contours":
            composite.SetLabelVolumeID(contours.GetID())
            composite.SetLabelOpacity(1.0)
        elif contours is not None and composite.GetLabelVolumeID() == contours.GetID():
            composite.SetLabelVolumeID(None)  # only our own label map is taken away
    for slice_node in _slice_nodes(scene):
        slice_node.SetUseLabelOutline(mode == "contours")
    return len(views)


def _slice_nodes(scene) -> list:
    nodes = scene.GetNodesByClass("vtkMRMLSliceNode")
    return [nodes.GetItemAsObject(i) for i in range(nodes.GetNumberOfItems())]


def set_flicker_phase(scene, show_daily: bool) -> None:
    """One flicker frame: the daily image fully on top, or hidden."""
    for composite in slice_composite_nodes(scene):
        composite.SetForegroundOpacity(1.0 if show_daily else 0.0)


def prepare(
    scene, result, planning_node, daily_node, nodes: dict | None = None, structures_node=None, structures=None
) -> dict:
    """Create or update the comparison volumes and colour nodes; returns them by name.

    ``nodes`` holds nodes from a previous call to update in place (keys as returned). ``structures_node``:
    the planning structures (a segmentation node) outlined in "contours" mode; the label map is made again
    only when the structures or the planning image change, not when the transform moves. ``structures``:
    its segments already exported on the planning grid (the match read them for its check).
    """
    nodes = dict(nodes or {})
    planning = volumes.image_from_node(planning_node)
    images = comparison_images(result, planning, volumes.image_from_node(daily_node))
    nodes["checkerboard"] = volumes.node_from_image(
        scene, images["checkerboard"], "IGRT checkerboard", nodes.get("checkerboard")
    )
    nodes["difference"] = volumes.node_from_image(
        scene, images["difference"], "IGRT difference (daily - planning)", nodes.get("difference")
    )
    source = _contour_source(structures_node, planning_node)
    if nodes.get("contours") is None or nodes.get("contours_source") != source:
        _update_contours(scene, nodes, planning_node, planning, structures_node, structures)
        nodes["contours_source"] = source
    nodes["planning_colour"] = fusion_color_node(scene, "IGRT planning (magenta)", PLANNING_RGB)
    nodes["daily_colour"] = fusion_color_node(scene, "IGRT daily (green)", DAILY_RGB)
    _set_colour(nodes["difference"], _difference_colour(scene))
    diff_display = nodes["difference"].GetDisplayNode()
    diff_display.AutoWindowLevelOff()
    diff_display.SetWindowLevel(1000.0, 0.0)
    return nodes


def _contour_source(structures_node, planning_node) -> tuple:
    """What the contour label map is made from (node IDs and modification times)."""
    if structures_node is None:
        return ("hu", planning_node.GetID(), planning_node.GetImageData().GetMTime())
    segmentation = structures_node.GetSegmentation()
    return (
        "structures",
        structures_node.GetID(),
        structures_node.GetMTime(),
        segmentation.GetMTime(),
        planning_node.GetID(),
    )


def _update_contours(
    scene, nodes: dict, planning_node, planning: sitk.Image, structures_node, structures=None
) -> None:
    if structures_node is None:
        labels, name, colours = contour_labels(planning), "IGRT planning contours (HU thresholds)", None
    else:
        labels, legend = structure_contour_labels(structures_node, planning_node, structures)
        name, colours = f"IGRT planning structures ({structures_node.GetName()})", legend
    node = nodes.get("contours") or scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", name)
    nodes["contours"] = volumes.node_from_image(scene, labels, name, node)
    nodes["contours"].SetName(name)
    colour = contour_color_node(scene) if colours is None else structure_color_node(scene, colours)
    _set_colour(nodes["contours"], colour)
