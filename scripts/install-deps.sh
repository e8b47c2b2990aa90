#!/usr/bin/env bash
# Installs, with apt-get, whichever of attnspec's build dependencies this Debian machine lacks; packages named as
# arguments are added to the list (the sanitizer run adds clang and its runtimes).
set -euo pipefail

packages=(cmake g++ make libeigen3-dev catch2 libbenchmark-dev python3-numpy python3-torch python3-jsonschema locales pybind11-dev python3-dev python3-pytest python3-matplotlib libopenmpi-dev openmpi-bin "$@")
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "attnspec: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
