"""The shared base of the IGRT scripted modules (IGRTDailyMatch, IGRTCouchShift, IGRTFiducials, IGRTDoseImpact, IGRTReview).

Module layer (DESIGN §2, above ``igrt.mrml``): what every module file needs and nothing of one
module's own work.

- ``base``: Slicer's template classes inside the application, their stand-ins under slicer-core
  (``IN_SLICER_APP`` says which), and ``IGRTModule`` (the module description every module shares).
- ``widget``: ``IGRTModuleWidget``, the template's parameter-node plumbing, error display and an
  ``onReload`` that also reloads the ``igrt`` core.
- ``nodes``: plan-node isocenter, DICOM identity of a volume node, the planning isocenter choice.
- ``choices``: the parameter enums, built from the core's constants.
- ``requirements``: packages Slicer does not bundle, installed on first use from
  ``Resources/requirements.txt``.
- ``errors``: the exceptions a module shows to the user, and how (dialog or raise).
- ``reload``: dropping the ``igrt`` core from ``sys.modules`` so a module reload re-reads it.

Installed next to the module files and ``igrt`` by ``IGRTExtension/IGRTCore/CMakeLists.txt``; in the
source tree each module file puts ``IGRTExtension/`` on ``sys.path`` to find it.
"""
