#-----------------------------------------------------------------------------
# igrt_add_scripted_module(NAME <module> [SCRIPTS <files...>] [RESOURCES <files...>])
#
# One IGRT scripted module: Slicer's slicerMacroBuildScriptedModule (with the generic tests), built
# after the shared core (IGRTExtension/IGRTCore: `igrt` and `IGRTModuleLib`, which every module
# imports), and, with BUILD_TESTING, the module's self-test as a ctest plus its Testing/ folder.
# Always installed: <module>.py, the module's helper package <module>Lib/*.py when it has one, and
# Resources/Icons/<module>.png and Resources/UI/<module>.ui.

function(igrt_add_scripted_module)
  cmake_parse_arguments(IGRT "" "NAME" "SCRIPTS;RESOURCES" ${ARGN})
  file(GLOB IGRT_LIB_SCRIPTS RELATIVE ${CMAKE_CURRENT_SOURCE_DIR} CONFIGURE_DEPENDS
    ${CMAKE_CURRENT_SOURCE_DIR}/${IGRT_NAME}Lib/*.py
    )
  slicerMacroBuildScriptedModule(
    NAME ${IGRT_NAME}
    SCRIPTS ${IGRT_NAME}.py ${IGRT_LIB_SCRIPTS} ${IGRT_SCRIPTS}
    RESOURCES Resources/Icons/${IGRT_NAME}.png Resources/UI/${IGRT_NAME}.ui ${IGRT_RESOURCES}
    WITH_GENERIC_TESTS
    )

  # `import igrt` / `import IGRTModuleLib` need the core installed next to the module.
  # (Per-target copy targets exist unless CTK_COMPILE_PYTHON_SCRIPTS_GLOBAL_TARGET_NAME merges them.)
  if(TARGET Copy${IGRT_NAME}PythonScriptFiles AND TARGET CopyIGRTCorePythonScriptFiles)
    add_dependencies(Copy${IGRT_NAME}PythonScriptFiles CopyIGRTCorePythonScriptFiles)
  endif()

  if(BUILD_TESTING)
    # The module's self-test (<module>Test) as a ctest; also runnable from Slicer.
    slicer_add_python_unittest(SCRIPT ${IGRT_NAME}.py)
    add_subdirectory(Testing)
  endif()
endfunction()
