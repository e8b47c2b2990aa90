#!/usr/bin/env python3
"""Offline check of the Conan 2 recipe (Conan itself cannot run here).

Usage: check_conan_recipe.py <attnspec source> <scratch directory>
The recipe and its test_package are imported against stand-ins for the few conan modules they use. The recipe's
export_sources() and package() run for real (the stand-in copy() copies files), and its metadata, requirements and
package_info() are checked: a header-library with Eigen as requirement, the CMake project's version, the target
attnspec::attnspec, and a package tree of headers plus the license only.
"""
import fnmatch
import importlib.util
import os
import re
import shutil
import sys
import types


def copy(conanfile, pattern, src, dst):
    """conan.tools.files.copy: files under src whose relative path matches pattern, to the same place under dst."""
    copied = []
    for folder, _, files in os.walk(src):
        for name in files:
            relative = os.path.relpath(os.path.join(folder, name), src)
            if fnmatch.fnmatch(relative, pattern):
                os.makedirs(os.path.dirname(os.path.join(dst, relative)), exist_ok=True)
                shutil.copy2(os.path.join(folder, name), os.path.join(dst, relative))
                copied.append(relative)
    return copied


class ConanFile:
    """conan.ConanFile with what the recipes touch."""

    def __init__(self):
        self.requirements_seen = []
        self.settings = types.SimpleNamespace(os="Linux")
        self.info = types.SimpleNamespace(cleared=False)
        self.info.clear = lambda: setattr(self.info, "cleared", True)
        self.cpp_info = CppInfo()

    def requires(self, reference):
        self.requirements_seen.append(reference)


class CppInfo:
    def __init__(self):
        self.properties = {}
        self.bindirs = ["bin"]
        self.libdirs = ["lib"]
        self.requires = []
        self.system_libs = []

    def set_property(self, name, value):
        self.properties[name] = value


def install_stand_ins():
    conan = types.ModuleType("conan")
    conan.ConanFile = ConanFile
    tools = types.ModuleType("conan.tools")
    files = types.ModuleType("conan.tools.files")
    files.copy = copy
    build = types.ModuleType("conan.tools.build")
    build.can_run = lambda conanfile: True
    cmake = types.ModuleType("conan.tools.cmake")
    cmake.CMake = object
    cmake.cmake_layout = lambda conanfile: None
    for module in (conan, tools, files, build, cmake):
        sys.modules[module.__name__] = module


def import_recipe(path):
    spec = importlib.util.spec_from_file_location(os.path.basename(os.path.dirname(path)), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    recipes = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, ConanFile) and v is not ConanFile]
    assert len(recipes) == 1, f"{path}: expected one ConanFile subclass, found {recipes}"
    return recipes[0]


def expect(condition, message):
    if not condition:
        sys.exit(f"conan recipe check failed: {message}")


def main():
    source, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    install_stand_ins()
    recipe_folder = os.path.join(source, "packaging", "conan")
    Recipe = import_recipe(os.path.join(recipe_folder, "conanfile.py"))
    with open(os.path.join(source, "CMakeLists.txt")) as lists:
        project_version = re.search(r"project\(attnspec VERSION ([0-9.]+)", lists.read()).group(1)
    expect(Recipe.name == "attnspec", f"name {Recipe.name}")
    expect(Recipe.version == project_version, f"version {Recipe.version} != CMake project {project_version}")
    expect(Recipe.package_type == "header-library", f"package_type {Recipe.package_type}")
    expect(Recipe.license == "MIT", f"license {Recipe.license}")

    recipe = Recipe()
    recipe.recipe_folder = recipe_folder
    recipe.requirements()
    expect(any(r.startswith("eigen/3.4") for r in recipe.requirements_seen), f"requires {recipe.requirements_seen}")
    recipe.package_id()
    expect(recipe.info.cleared, "package_id() must clear the settings of a header-only package")

    recipe.export_sources_folder = os.path.join(work, "export_source")
    recipe.export_sources()
    recipe.source_folder = recipe.export_sources_folder
    recipe.package_folder = os.path.join(work, "package")
    recipe.package()
    packaged = sorted(os.path.relpath(os.path.join(d, f), recipe.package_folder)
                      for d, _, fs in os.walk(recipe.package_folder) for f in fs)
    headers = sorted(os.path.relpath(os.path.join(d, f), source)
                     for d, _, fs in os.walk(os.path.join(source, "include")) for f in fs if f.endswith(".hpp"))
    expect(packaged == sorted(headers + ["licenses/LICENSE"]),
           f"package tree differs from include/ + licenses/LICENSE: {set(packaged) ^ set(headers + ['licenses/LICENSE'])}")

    recipe.package_info()
    info = recipe.cpp_info
    expect(info.properties.get("cmake_target_name") == "attnspec::attnspec", f"properties {info.properties}")
    expect(info.properties.get("cmake_file_name") == "attnspec", f"properties {info.properties}")
    expect(info.bindirs == [] and info.libdirs == [], "a header library has no bin or lib directories")
    expect(info.requires == ["eigen::eigen"], f"cpp_info.requires {info.requires}")

    Test = import_recipe(os.path.join(recipe_folder, "test_package", "conanfile.py"))
    test = Test()
    test.tested_reference_str = f"attnspec/{Recipe.version}"
    test.requirements()
    expect(test.requirements_seen == [test.tested_reference_str], f"test_package requires {test.requirements_seen}")
    with open(os.path.join(recipe_folder, "test_package", "CMakeLists.txt")) as lists:
        text = lists.read()
    expect("find_package(attnspec CONFIG REQUIRED)" in text and "attnspec::attnspec" in text,
           "test_package/CMakeLists.txt must find_package(attnspec CONFIG REQUIRED) and link attnspec::attnspec")
    print(f"conan recipe: attnspec/{Recipe.version}, {len(packaged)} packaged files, target attnspec::attnspec")


if __name__ == "__main__":
    main()
