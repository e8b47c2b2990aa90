"""Conan 2 recipe of attnspec (header-only). From the repository root:
    conan create packaging/conan --build=missing
"""
import os

from conan import ConanFile
from conan.tools.files import copy


class AttnspecConan(ConanFile):
    name = "attnspec"
    version = "0.2.0"
    description = "Header-only C++17 library for the spectral analysis of transformer attention heads"
    license = "MIT"
    topics = ("attention", "transformer", "svd", "spectral-analysis", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    no_copy_source = True

    def export_sources(self):
        root = os.path.join(self.recipe_folder, "..", "..")
        copy(self, "LICENSE", root, self.export_sources_folder)
        copy(self, "*.hpp", os.path.join(root, "include"), os.path.join(self.export_sources_folder, "include"))

    def requirements(self):
        self.requires("eigen/3.4.0")

    def package_id(self):
        self.info.clear()

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"), os.path.join(self.package_folder, "include"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "attnspec")
        self.cpp_info.set_property("cmake_target_name", "attnspec::attnspec")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        self.cpp_info.requires = ["eigen::eigen"]
        if self.settings.os in ("Linux", "FreeBSD"):
            self.cpp_info.system_libs = ["pthread"]
