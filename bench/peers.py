"""Peer registration engines for the accuracy/speed benchmark (docs/CONVENTIONS.md §5), each set up as a user would.

Every peer is a function ``(planning_path, daily_path, planning_iso, daily_iso, workdir)`` returning
``(matrix_lps, elapsed_s, note)``:

- ``matrix_lps`` is the 4×4 result in the project convention (docs/CONVENTIONS.md): LPS mm, planning frame, maps a
  point of the planned anatomy to where that anatomy is in the daily image, after identifying the
  daily isocenter with the planning isocenter (daily point ``d`` ≙ planning point ``d - daily_iso +
  planning_iso``);
- ``elapsed_s`` is the wall clock of the whole peer run, its own reading of both images included;
- ``note`` says in words what was run and any preparation done outside the timed region.

Initial alignment. All peers get the same start as ours (isocenter alignment): the daily image's
origin is shifted by ``planning_iso - daily_iso`` so that both isocenters have the same coordinates.
The in-process peers shift the origin of the image they have just read (free); the command-line
peers need a file, so a shifted copy of the daily header (or, for a file whose data cannot be
referenced by a detached header, the whole image) is written to ``workdir`` before the clock starts.

Why the result needs no further conversion. With fixed = planning and moving = shifted daily, an ITK
(or elastix) transform ``T`` maps a fixed-space point to the moving-space point that the registration
pairs it with. A planning point ``q`` of the anatomy lies in the daily image at ``d = M(q) -
planning_iso + daily_iso``, i.e. at shifted coordinate ``d + planning_iso - daily_iso = M(q)``. So the
converged ``T`` is ``M`` itself. We turn any transform into its 4×4 by evaluating it at points (never by
reading parameters by hand), so centres of rotation, offsets and Euler orders are all handled by the
toolkit that defined them; ``check_peers.py`` verifies each peer on a pair with a known transform.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

PLASTIMATCH = shutil.which("plastimatch") or "/usr/bin/plastimatch"
ELASTIX = shutil.which("elastix") or "/usr/bin/elastix"


# --------------------------------------------------------------------------------------------------
# Shared helpers


def matrix_from_point_map(transform_point) -> np.ndarray:
    """4×4 matrix of an affine point map given as a function ``p -> T(p)`` (LPS mm).

    Evaluates the map at a point and at that point plus 100 mm along each axis, so any centre of
    rotation, offset or parameter order of the source transform is accounted for by the source itself.
    """
    base = np.zeros(3)
    t0 = np.asarray(transform_point(base), float)
    m = np.eye(4)
    for j in range(3):
        e = base.copy()
        e[j] = 100.0
        m[:3, j] = (np.asarray(transform_point(e), float) - t0) / 100.0
    m[:3, 3] = t0
    return m


def matrix_from_sitk_transform(tx: sitk.Transform) -> np.ndarray:
    """4×4 of a SimpleITK transform (any kind, composite included) that is affine."""
    return matrix_from_point_map(lambda p: tx.TransformPoint(tuple(float(v) for v in p)))


def read_sitk_float(path) -> sitk.Image:
    """Read a volume file or a DICOM series folder as a float32 SimpleITK image."""
    path = str(path)
    if os.path.isdir(path):
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(path))
        return sitk.Cast(reader.Execute(), sitk.sitkFloat32)
    return sitk.ReadImage(path, sitk.sitkFloat32)


def _shift(planning_iso, daily_iso) -> np.ndarray:
    return np.asarray(planning_iso, float) - np.asarray(daily_iso, float)


def _parse_metaimage_header(path: Path) -> tuple[list[tuple[str, str]], int] | None:
    """Key/value lines of a MetaImage header and the byte length of the header, or None."""
    with open(path, "rb") as f:
        head = f.read(65536)
    entries, pos = [], 0
    for raw in head.split(b"\n"):
        pos += len(raw) + 1
        line = raw.decode("latin-1").strip()
        if "=" not in line:
            return None
        key, value = (s.strip() for s in line.split("=", 1))
        entries.append((key, value))
        if key == "ElementDataFile":
            return entries, pos
    return None


def write_shifted(image_path, shift, workdir, name) -> tuple[str, str]:
    """A copy of an image whose origin is moved by ``shift`` (mm), for the command-line peers.

    Returns ``(path, how)``. For an uncompressed MetaImage (.mha/.mhd) only a detached header is
    written that points at the original pixel data (cheap); anything else is read and rewritten as
    an uncompressed .mha in ``workdir``.
    """
    image_path = Path(image_path)
    shift = np.asarray(shift, float)
    if image_path.is_file() and image_path.suffix.lower() in (".mha", ".mhd"):
        parsed = _parse_metaimage_header(image_path)
        if parsed is not None:
            entries, header_bytes = parsed
            fields = dict(entries)
            compressed = fields.get("CompressedData", "False").lower() == "true"
            origin_key = next((k for k in ("Offset", "Origin", "Position") if k in fields), None)
            if not compressed and origin_key and fields.get("ElementDataFile") not in (None, "LIST"):
                origin = np.array([float(v) for v in fields[origin_key].split()])
                lines = []
                for key, value in entries:
                    if key == "HeaderSize":
                        continue
                    if key in ("Offset", "Origin", "Position"):
                        value = " ".join(repr(float(v)) for v in origin + shift)
                    if key == "ElementDataFile":
                        if value == "LOCAL":
                            lines.append(f"HeaderSize = {header_bytes}")
                            value = str(image_path.resolve())
                        else:
                            value = str((image_path.parent / value).resolve())
                    lines.append(f"{key} = {value}")
                out = Path(workdir) / f"{name}_shifted.mhd"
                out.write_text("\n".join(lines) + "\n")
                return str(out), "detached MetaImage header with the origin shifted"
    image = read_sitk_float(image_path)
    image.SetOrigin(tuple(float(v) for v in np.asarray(image.GetOrigin()) + shift))
    out = Path(workdir) / f"{name}_shifted.mha"
    sitk.WriteImage(image, str(out), useCompression=False)
    return str(out), "full copy (float32 .mha) with the origin shifted"


def _input_file_for_cli(path, workdir, name) -> str:
    """Command-line peers read files; a DICOM folder is converted once (outside the timing)."""
    if os.path.isdir(path):
        out = Path(workdir) / f"{name}.mha"
        sitk.WriteImage(read_sitk_float(path), str(out), useCompression=False)
        return str(out)
    return str(path)


# --------------------------------------------------------------------------------------------------
# plastimatch (Debian package): `plastimatch register command_file`

#: Two rigid stages as in plastimatch's registration guidebook (xform=rigid, optim=versor, res 4 4 2),
#: refined at 2 2 1 ; impl=itk with Mattes MI (metric=mi) since CBCT HU differ from CT HU.
PLASTIMATCH_STAGES = (
    {"xform": "rigid", "optim": "versor", "impl": "itk", "metric": "mi", "max_its": "30", "res": "4 4 2"},
    {"xform": "rigid", "optim": "versor", "impl": "itk", "metric": "mi", "max_its": "30", "res": "2 2 1"},
)


def plastimatch_command_file(fixed, moving, xform_out, stages=PLASTIMATCH_STAGES) -> str:
    """Text of a plastimatch registration command file (ini format: one GLOBAL, then STAGEs)."""
    lines = ["[GLOBAL]", f"fixed={fixed}", f"moving={moving}", f"xform_out={xform_out}", ""]
    for stage in stages:
        lines.append("[STAGE]")
        lines += [f"{k}={v}" for k, v in stage.items()]
        lines.append("")
    return "\n".join(lines)


def run_plastimatch(planning_path, daily_path, planning_iso, daily_iso, workdir, stages=PLASTIMATCH_STAGES):
    """plastimatch rigid registration; fixed = planning, moving = daily, isocenters at the origin.

    Both image origins are shifted so that each image's isocenter sits at (0, 0, 0): the isocenters
    coincide (isocenter alignment, as ours) and the centre of rotation of plastimatch's versor
    transform, which is the coordinate origin, is the isocenter. (plastimatch 1.9 keeps only the
    parameters of its best transform, so a centre given through ``xform_in`` is lost between stages
    and in ``xform_out``; with the centre at a DICOM origin hundreds of mm away its versor optimiser
    diverges — check_peers.py shows both.) The result ``T`` maps shifted planning points to shifted
    daily points: ``M(q) = T(q - planning_iso) + planning_iso``.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    p_iso, d_iso = np.asarray(planning_iso, float), np.asarray(daily_iso, float)
    fixed, how = write_shifted(
        _input_file_for_cli(planning_path, workdir, "planning"), -p_iso, workdir, "planning"
    )
    moving, _ = write_shifted(_input_file_for_cli(daily_path, workdir, "daily"), -d_iso, workdir, "daily")
    xform_out = workdir / "plastimatch_xform.txt"
    if xform_out.exists():
        xform_out.unlink()
    cmd_file = workdir / "plastimatch_register.txt"
    cmd_file.write_text(plastimatch_command_file(fixed, moving, xform_out, stages))
    t0 = time.perf_counter()
    proc = subprocess.run([PLASTIMATCH, "register", str(cmd_file)], capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    (workdir / "plastimatch_log.txt").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not xform_out.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"plastimatch failed (exit {proc.returncode}): {tail[0]}")
    t_shifted = matrix_from_sitk_transform(sitk.ReadTransform(str(xform_out)))
    to_shifted = np.eye(4)
    to_shifted[:3, 3] = -p_iso
    matrix = np.linalg.inv(to_shifted) @ t_shifted @ to_shifted
    desc = "; ".join(" ".join(f"{k}={v}" for k, v in s.items()) for s in stages)
    note = (
        f"plastimatch register, stages: {desc}; both images with the isocenter moved to the origin "
        f"({how}, written before timing)"
    )
    return matrix, elapsed, note


# --------------------------------------------------------------------------------------------------
# elastix: itk-elastix (Python) with the default rigid parameter map, and the Debian binary


#: The only changes to elastix's default rigid map (see run_elastix).
ELASTIX_CHANGES = {"WriteResultImage": "false", "RequiredRatioOfValidSamples": "0.05"}


def _elastix_euler_matrix(transform_parameters, center, compute_zyx=False) -> np.ndarray:
    """4×4 of an elastix EulerTransform (3D): parameters (θx, θy, θz, tx, ty, tz) about its centre.

    elastix's 3D EulerTransform is ITK's Euler3DTransform, so SimpleITK's Euler3DTransform with the
    same centre, parameters and ComputeZYX flag is the same map; we evaluate it at points.
    """
    tx = sitk.Euler3DTransform()
    tx.SetCenter(tuple(float(v) for v in center))
    tx.SetComputeZYX(bool(compute_zyx))
    tx.SetParameters(tuple(float(v) for v in transform_parameters))
    return matrix_from_sitk_transform(tx)


def elastix_default_rigid_map():
    """elastix's default rigid parameter map (itk-elastix), as a plain dict of tuples."""
    import itk

    po = itk.ParameterObject.New()
    pmap = po.GetDefaultParameterMap("rigid")
    return {k: tuple(pmap[k]) for k in pmap.keys()}


def run_elastix(planning_path, daily_path, planning_iso, daily_iso, workdir):
    """itk-elastix with ``GetDefaultParameterMap('rigid')``; fixed = planning, moving = shifted daily.

    Changes to the default map (``ELASTIX_CHANGES``): WriteResultImage=false (the resampled daily image
    is not part of the match; ours does not produce it either) and RequiredRatioOfValidSamples=0.05
    (elastix's own remedy for "Too many samples map outside moving image buffer": the CBCT's field of
    view covers only about a fifth of the planning CT, below the default 0.25). The default map has no
    AutomaticTransformInitialization, so the registration starts from the isocenter alignment given by
    the origin shift.
    """
    import itk

    shift = _shift(planning_iso, daily_iso)
    t0 = time.perf_counter()
    fixed = itk.imread(str(planning_path), itk.F)
    moving = itk.imread(str(daily_path), itk.F)
    moving.SetOrigin([float(v) for v in np.asarray(moving.GetOrigin()) + shift])
    po = itk.ParameterObject.New()
    pmap = po.GetDefaultParameterMap("rigid")
    for key, value in ELASTIX_CHANGES.items():
        pmap[key] = [value]
    po.AddParameterMap(pmap)
    _, tpo = itk.elastix_registration_method(fixed, moving, parameter_object=po, log_to_console=False)
    last = tpo.GetNumberOfParameterMaps() - 1
    tmap = tpo.GetParameterMap(last)
    elapsed = time.perf_counter() - t0
    if tmap["Transform"][0] != "EulerTransform":
        raise RuntimeError(f"unexpected elastix transform {tmap['Transform'][0]}")
    zyx = "ComputeZYX" in tmap.keys() and tmap["ComputeZYX"][0] == "true"
    matrix = _elastix_euler_matrix(tmap["TransformParameters"], tmap["CenterOfRotationPoint"], zyx)
    iters = pmap["MaximumNumberOfIterations"][0]
    note = (
        f"itk-elastix (ITK {itk.__version__}) default rigid map "
        f"(EulerTransform, AdvancedMattesMutualInformation, ASGD, {pmap['NumberOfResolutions'][0]} "
        f"resolutions x {iters} its, {pmap['NumberOfSpatialSamples'][0]} random samples), "
        f"changed: {ELASTIX_CHANGES}; moving origin shifted in memory"
    )
    return matrix, elapsed, note


def _read_elastix_parameter_file(path) -> dict:
    """Parse an elastix parameter/transform-parameter text file: ``(Key v1 v2 ...)`` lines."""
    out = {}
    for line in Path(path).read_text().splitlines():
        m = re.match(r"^\s*\((\w+)\s+(.*)\)\s*$", line)
        if m:
            out[m.group(1)] = [v.strip('"') for v in re.findall(r'"[^"]*"|\S+', m.group(2))]
    return out


def _write_elastix_parameter_file(pmap: dict, path) -> None:
    def fmt(v):
        try:
            float(v)
            return v
        except ValueError:
            return f'"{v}"'

    lines = [f"({k} {' '.join(fmt(v) for v in vals)})" for k, vals in pmap.items()]
    Path(path).write_text("\n".join(lines) + "\n")


def run_elastix_cli(planning_path, daily_path, planning_iso, daily_iso, workdir):
    """Debian ``elastix`` binary with the same default rigid map (written as a parameter file)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    fixed = _input_file_for_cli(planning_path, workdir, "planning")
    moving, how = write_shifted(
        _input_file_for_cli(daily_path, workdir, "daily"), _shift(planning_iso, daily_iso), workdir, "daily"
    )
    pmap = dict(elastix_default_rigid_map())
    pmap.update({k: (v,) for k, v in ELASTIX_CHANGES.items()})
    pfile = workdir / "elastix_rigid.txt"
    _write_elastix_parameter_file(pmap, pfile)
    out = workdir / "elastix_out"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [ELASTIX, "-f", fixed, "-m", moving, "-p", str(pfile), "-out", str(out)],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - t0
    tfile = out / "TransformParameters.0.txt"
    if proc.returncode != 0 or not tfile.exists():
        raise RuntimeError(f"elastix binary failed (exit {proc.returncode}); see {out}/elastix.log")
    t = _read_elastix_parameter_file(tfile)
    if t["Transform"][0] != "EulerTransform":
        raise RuntimeError(f"unexpected elastix transform {t['Transform'][0]}")
    zyx = t.get("ComputeZYX", ["false"])[0] == "true"
    matrix = _elastix_euler_matrix(t["TransformParameters"], t["CenterOfRotationPoint"], zyx)
    note = (
        f"elastix binary ({ELASTIX}) with the itk-elastix default rigid map; moving = {how} (before timing)"
    )
    return matrix, elapsed, note


# --------------------------------------------------------------------------------------------------
# SimpleITK ImageRegistrationMethod, set up as in SimpleITK's registration examples


#: Seed of SimpleITK's random sampling (the examples leave it to the wall clock); fixed for repeatability.
SITK_SEED = 1


def run_sitk(
    planning_path, daily_path, planning_iso, daily_iso, workdir, initializer="geometry", optimizer="gd"
):
    """SimpleITK rigid registration as its examples set it up.

    Mattes MI (50 bins), random sampling 1 % (seed fixed), linear interpolation, gradient descent
    (learning rate 1.0, 100 iterations, convergence 1e-6 over a window of 10), scales from physical
    shift, shrink [4, 2, 1], smoothing [2, 1, 0] mm, Euler3DTransform initialised by
    CenteredTransformInitializer(GEOMETRY), fixed = planning, moving = daily with its origin shifted to
    align the isocenters, both float32.

    ``initializer="geometry"`` is the examples' choice: it re-centres the images on their geometric
    centres, which overrides the isocenter alignment when the planning isocenter is off the planning
    image centre. ``initializer="iso"`` keeps the isocenter alignment (identity) and rotates about the
    planning isocenter. ``optimizer="rsgd"`` swaps in the examples' other optimiser,
    RegularStepGradientDescent (learning rate 1.0, minimum step 1e-3, 200 iterations, relaxation 0.5).
    """
    shift = _shift(planning_iso, daily_iso)
    p_iso = np.asarray(planning_iso, float)
    t0 = time.perf_counter()
    fixed = read_sitk_float(planning_path)
    moving = read_sitk_float(daily_path)
    moving.SetOrigin(tuple(float(v) for v in np.asarray(moving.GetOrigin()) + shift))
    if initializer == "geometry":
        initial = sitk.CenteredTransformInitializer(
            fixed, moving, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.GEOMETRY
        )
    else:
        initial = sitk.Euler3DTransform()
        initial.SetCenter(tuple(float(v) for v in p_iso))
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(0.01, SITK_SEED)
    reg.SetInterpolator(sitk.sitkLinear)
    if optimizer == "gd":
        reg.SetOptimizerAsGradientDescent(
            learningRate=1.0, numberOfIterations=100, convergenceMinimumValue=1e-6, convergenceWindowSize=10
        )
        opt = "GD lr=1.0 100 its (convergence 1e-6 over 10)"
    else:
        reg.SetOptimizerAsRegularStepGradientDescent(
            learningRate=1.0, minStep=1e-3, numberOfIterations=200, relaxationFactor=0.5
        )
        opt = "RSGD lr=1.0 min step 1e-3 200 its relaxation 0.5"
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(shrinkFactors=[4, 2, 1])
    reg.SetSmoothingSigmasPerLevel(smoothingSigmas=[2, 1, 0])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(initial, inPlace=False)
    final = reg.Execute(fixed, moving)
    elapsed = time.perf_counter() - t0
    matrix = matrix_from_sitk_transform(final)
    init_offset = np.linalg.norm(np.asarray(initial.TransformPoint(tuple(p_iso))) - p_iso)
    note = (
        f"SimpleITK ImageRegistrationMethod: Mattes MI 50 bins, RANDOM 1% (seed {SITK_SEED}), linear, {opt}, "
        "scales from physical shift, shrink [4,2,1], sigmas [2,1,0] mm, Euler3D, "
        f"initializer {initializer.upper()} (starts {init_offset:.1f} mm from the isocenter alignment); "
        f"stop: {reg.GetOptimizerStopConditionDescription()}; moving origin shifted in memory"
    )
    return matrix, elapsed, note


def run_sitk_iso(planning_path, daily_path, planning_iso, daily_iso, workdir):
    """SimpleITK as in its examples but started from the isocenter alignment (no GEOMETRY re-centring)."""
    return run_sitk(planning_path, daily_path, planning_iso, daily_iso, workdir, initializer="iso")


def run_sitk_rsgd(planning_path, daily_path, planning_iso, daily_iso, workdir):
    """SimpleITK as in its examples with RegularStepGradientDescent instead of GradientDescent."""
    return run_sitk(planning_path, daily_path, planning_iso, daily_iso, workdir, optimizer="rsgd")


def warm_up() -> None:
    """Load ITK's lazily imported modules and elastix once, outside any timing (ours is imported too)."""
    import itk

    img = itk.image_from_array(np.random.default_rng(0).random((16, 16, 16), dtype=np.float32))
    po = itk.ParameterObject.New()
    pmap = po.GetDefaultParameterMap("translation")
    pmap["NumberOfResolutions"] = ["1"]
    pmap["MaximumNumberOfIterations"] = ["2"]
    pmap["WriteResultImage"] = ["false"]
    po.AddParameterMap(pmap)
    itk.elastix_registration_method(img, img, parameter_object=po, log_to_console=False)
    itk.imread  # noqa: B018 - attribute access triggers the lazy load of ITK's IO module


PEERS = {
    "plastimatch": run_plastimatch,
    "elastix": run_elastix,
    "elastix-cli": run_elastix_cli,
    "sitk": run_sitk,
    "sitk-iso": run_sitk_iso,
    "sitk-rsgd": run_sitk_rsgd,
}
#: Peers the benchmark runs by default (the others are variants, run on request).
DEFAULT_PEERS = ("plastimatch", "elastix", "sitk")


def thread_settings() -> dict:
    """Thread counts the peers and ours run with (defaults; nothing is overridden here)."""
    info = {
        "cpu_count": os.cpu_count(),
        "sitk_default_threads": sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": os.environ.get("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"),
    }
    try:
        import itk

        info["itk_default_threads"] = itk.MultiThreaderBase.GetGlobalDefaultNumberOfThreads()
    except Exception as exc:  # pragma: no cover - itk missing
        info["itk_default_threads"] = f"unavailable ({exc})"
    return info
