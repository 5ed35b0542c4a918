"""Stand-ins for Slicer's GUI-side base classes when a module is imported under the slicer-core wheel.

slicer-core is real MRML without the application: it has no ``slicer.ScriptedLoadableModule`` and no
``slicer.parameterNodeWrapper`` (both need Qt). With these stand-ins the IGRT module files still import,
so tests can run their Logic classes on a real scene (``slicer.util.VTKObservationMixin`` is real
in both: slicer-core ships ``slicer.util``). Nothing here touches the scene; the widget,
module and parameter-node classes are only usable inside Slicer.
"""


class ScriptedLoadableModule:
    def __init__(self, parent=None):
        self.parent = parent


class ScriptedLoadableModuleWidget:
    def __init__(self, parent=None):
        self.parent = parent
        self.moduleName = type(self).__name__.removesuffix("Widget")  # as Slicer's template names it


class ScriptedLoadableModuleLogic:
    def __init__(self, parent=None):
        self.parent = parent

    def getParameterNode(self):
        raise RuntimeError("parameter nodes need the Slicer application")


class ScriptedLoadableModuleTest:
    pass


class WithinRange:
    def __init__(self, minimum, maximum):
        self.minimum, self.maximum = minimum, maximum


class Choice:
    def __init__(self, choices):
        self.choices = list(choices)


def parameterNodeWrapper(cls):
    """Outside Slicer the parameter node class is a plain annotated class (never instantiated)."""
    return cls
