#!/usr/bin/env bash
# LocalStack community in host mode (no Docker), for the benchmarks' LocalStack rows
# (scripts/vs_moto.py --against localstack, scripts/messaging_bench.py --localstack).
#
# localstack-core needs Python >= 3.13; a Debian bookworm machine has 3.11. This takes Python
# 3.13 from Debian trixie's packages, unpacked into a private prefix (PREFIX, default /opt/py313)
# with trixie's own glibc beside it (the interpreter is pointed at it with patchelf), so the
# system's libc and apt state are untouched. Then a venv (VENV, default /work/ls-venv13) with
# localstack-core. Afterwards: export SNAPSTACK_LOCALSTACK_PYTHON=$VENV/bin/python
#
# Needs: deb.debian.org (trixie) and PyPI reachable, patchelf (apt-get install patchelf), root
# for /opt. Pins: cbor2 < 5.7 (LocalStack's CBOR), pyopenssl < 26 (26.4 removed
# X509.add_extensions, which LocalStack's self-signed certificate uses), service_identity < 26
# (26.x needs cryptography >= 47, which pyopenssl 25 refuses).
set -euo pipefail
PREFIX=${PREFIX:-/opt/py313}
VENV=${VENV:-/work/ls-venv13}
A=${PREFIX}-apt
L=$PREFIX/usr/lib/x86_64-linux-gnu

mkdir -p "$A"/state/lists/partial "$A"/cache/archives/partial "$A"/etc/preferences.d \
  "$A"/etc/apt.conf.d "$A"/etc/sources.list.d "$A"/debs "$A"/pipwhl
echo 'deb http://deb.debian.org/debian trixie main' > "$A"/etc/sources.list
touch "$A"/state/status
cat > "$A"/apt.conf <<EOF
Dir::State "$A/state";
Dir::State::status "$A/state/status";
Dir::Cache "$A/cache";
Dir::Etc::SourceList "$A/etc/sources.list";
Dir::Etc::SourceParts "$A/etc/sources.list.d";
Dir::Etc::Preferences "$A/etc/preferences";
Dir::Etc::PreferencesParts "$A/etc/preferences.d";
Dir::Etc::main "$A/etc/apt.conf";
Dir::Etc::Parts "$A/etc/apt.conf.d";
APT::Architecture "amd64";
EOF
APT_CONFIG="$A"/apt.conf apt-get -o Acquire::Languages=none update
(cd "$A"/debs && APT_CONFIG="$A"/apt.conf apt-get download ca-certificates gcc-14-base \
  libbz2-1.0 libc6 libexpat1 libffi8 libgcc-s1 liblzma5 libncursesw6 libpython3.13-minimal \
  libpython3.13-stdlib libreadline8t64 libsqlite3-0 libssl3t64 libtinfo6 libuuid1 libzstd1 \
  media-types netbase openssl-provider-legacy python3-pip-whl python3-setuptools-whl python3.13 \
  python3.13-minimal python3.13-venv readline-common tzdata zlib1g libmpdec4 libstdc++6)

mkdir -p "$PREFIX"
for d in "$A"/debs/*.deb; do dpkg -x "$d" "$PREFIX"; done
command -v patchelf >/dev/null || apt-get install -y patchelf
patchelf --set-interpreter "$L"/ld-linux-x86-64.so.2 --force-rpath \
  --set-rpath "$L:$PREFIX/usr/lib" "$PREFIX"/usr/bin/python3.13
"$PREFIX"/usr/bin/python3.13 -c 'import ssl, sqlite3, ctypes, lzma, bz2, zlib, venv, decimal'

# Debian's ensurepip would take bookworm's pip wheel from /usr/share/python-wheels: no pip here,
# then pip from PyPI's wheel.
"$PREFIX"/usr/bin/python3.13 -m venv --without-pip "$VENV"
python3 -m pip download --no-deps -d "$A"/pipwhl pip
W=$(ls "$A"/pipwhl/pip-*.whl | head -1)
"$VENV"/bin/python "$W"/pip install --no-index "$W"
"$VENV"/bin/pip install 'localstack-core[runtime]' 'cbor2==5.6.5' 'pyopenssl<26' 'service_identity<26'
"$VENV"/bin/python -c 'import localstack, importlib.metadata as m; print("localstack-core", m.version("localstack-core"))'
echo "export SNAPSTACK_LOCALSTACK_PYTHON=$VENV/bin/python"
