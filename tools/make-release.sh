#!/usr/bin/env bash
# Builds dist/dbus-bms-<version>.tar.gz: the package, the service, install.sh and its runtime
# dependencies vendored as pure Python in ext/, so one tarball runs on every GX (armv7, aarch64)
# with the Python 3.12 of Venus OS 3.60 and later, with nothing installed through opkg.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
version=$("$PY" -c 'import re; print(re.search(r"__version__ = \"(.+)\"", open("dbus_bms/__init__.py").read())[1])')
deps=$("$PY" - <<'PYEOF'
import ast, pathlib
tree = ast.parse(pathlib.Path("setup.py").read_text())
for node in ast.walk(tree):
    if isinstance(node, ast.keyword) and node.arg == "install_requires":
        print(" ".join(ast.literal_eval(node.value)))
PYEOF
)
out=${1:-dist}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/dbus-bms-$version"
mkdir -p "$root"
cp -r dbus_bms service examples qml install.sh README.md LICENSE "$root/"
# SKIP_CYTHON makes dbus-fast build without its compiled speed-ups; PyYAML falls back to pure
# Python once its _yaml extension is removed.
# shellcheck disable=SC2086
SKIP_CYTHON=1 "$PY" -m pip install --quiet --disable-pip-version-check --no-compile \
    --no-binary dbus-fast,pyyaml --target "$root/ext" $deps
find "$root" \( -name '*.so' -o -name '*.pyd' -o -name '__pycache__' \) -prune -exec rm -rf {} +
rm -rf "$root/ext/bin"
mkdir -p "$out"
tar -C "$stage" -czf "$out/dbus-bms-$version.tar.gz" "dbus-bms-$version"
echo "$out/dbus-bms-$version.tar.gz"
