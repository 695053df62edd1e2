#!/usr/bin/env bash
# Headless Chromium, its chromedriver and the Noto CJK fonts from Debian's
# archive, without root: `apt-get download` the packages (and every shared
# library they need that this system lacks), `dpkg -x` them into a cache
# directory, and write
#
#   $DEST/env.sh      LD_LIBRARY_PATH, FONTCONFIG_FILE, KERAS_ATTN_CHROMIUM,
#                     KERAS_ATTN_CHROMEDRIVER for `source`
#   $DEST/fonts.conf  the system fonts plus the extracted Noto CJK fonts
#
# DEST is $KERAS_ATTN_CHROMIUM_DIR, by default ~/.cache/keras_attn/chromium
# (what tests/site/ looks at). Running it again reuses the downloaded .debs.
# Needs: Debian 12 (bookworm) or a derivative with apt sources, python3.
set -euo pipefail

DEST="${KERAS_ATTN_CHROMIUM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keras_attn/chromium}"
ROOTS=(chromium chromium-common chromium-driver fonts-noto-cjk)
mkdir -p "$DEST/debs" "$DEST/root"
DEST="$(cd "$DEST" && pwd)"

# The system's package lists, or, where there are none (a container that
# deleted them) or they name versions the mirror no longer has, lists
# fetched into $DEST/apt: `apt-get update` without root.
APT_OPTS=()
APT_OPTS_LINE=""
private_lists() {
  mkdir -p "$DEST/apt/lists/partial" "$DEST/apt/cache/archives/partial"
  APT_OPTS=(-o "Dir::State::Lists=$DEST/apt/lists"
    -o "Dir::Cache=$DEST/apt/cache" -o "Debug::NoLocking=1")
  APT_OPTS_LINE="$(printf '%q ' "${APT_OPTS[@]}")"
  apt-get "${APT_OPTS[@]}" update
}
if ! apt-cache show chromium >/dev/null 2>&1; then
  private_lists
fi

# The packages to fetch: the roots, then (breadth first) every dependency
# that is not installed, following only shared-library packages (lib*):
# x11-utils, xdg-utils and the like are for a desktop session, not for
# headless rendering. Of alternatives (a | b) an installed one wins, else
# the first real package.
resolve() {
  mapfile -t PACKAGES < <(APT_OPTS_LINE="$APT_OPTS_LINE" python3 - \
    "${ROOTS[@]}" <<'EOF'
import os
import shlex
import subprocess
import sys

APT_OPTS = shlex.split(os.environ.get("APT_OPTS_LINE", ""))


def installed(name):
    run = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", name],
        capture_output=True,
        text=True,
    )
    return run.returncode == 0 and run.stdout.endswith("installed")


def dependency_groups(name):
    """[[alternative, ...], ...] of `name`'s Depends and Pre-Depends."""
    out = subprocess.run(
        ["apt-cache", *APT_OPTS, "depends", "--no-recommends",
         "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces",
         "--no-enhances", name],
        capture_output=True, text=True, check=True,
    ).stdout
    groups, continues = [], False
    for line in out.splitlines()[1:]:
        if not line.startswith((" |", "  ")) or ":" not in line:
            continue  # a virtual package's provider list
        kind, dep = line.strip().lstrip("|").split(":", 1)
        if kind not in ("Depends", "PreDepends"):
            continue
        dep = dep.strip()
        if continues:
            groups[-1].append(dep)
        else:
            groups.append([dep])
        continues = line.startswith(" |")
    return groups


todo, chosen = list(sys.argv[1:]), []
while todo:
    name = todo.pop(0)
    if name in chosen:
        continue
    chosen.append(name)
    for group in dependency_groups(name):
        real = [d for d in group if not d.startswith("<")]
        if not real or any(installed(d) or d in chosen for d in real):
            continue
        if real[0].startswith("lib"):
            todo.append(real[0])
print("\n".join(chosen))
EOF
  )
  echo "install_chromium: ${#PACKAGES[@]} packages: ${PACKAGES[*]}"
}

download() {  # the packages not downloaded before
  local missing=() package
  for package in "${PACKAGES[@]}"; do
    compgen -G "${package}_*.deb" >/dev/null || missing+=("$package")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt-get "${APT_OPTS[@]}" download "${missing[@]}"
  fi
}

cd "$DEST/debs"
resolve
if ! download && [ "${#APT_OPTS[@]}" -eq 0 ]; then
  echo "install_chromium: retrying with fresh package lists" >&2
  private_lists
  resolve
  download
fi
for deb in *.deb; do  # extract each .deb once
  if ! grep -qxF "$deb" "$DEST/extracted" 2>/dev/null; then
    dpkg -x "$deb" "$DEST/root"
    echo "$deb" >>"$DEST/extracted"
  fi
done

R="$DEST/root"
LIBS="$R/usr/lib/x86_64-linux-gnu:$R/usr/lib/x86_64-linux-gnu/pulseaudio"
LIBS="$LIBS:$R/lib/x86_64-linux-gnu:$R/usr/lib/chromium"
cat >"$DEST/fonts.conf" <<EOF
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
  <dir>$R/usr/share/fonts</dir>
  <cachedir>$DEST/fontconfig-cache</cachedir>
</fontconfig>
EOF
cat >"$DEST/env.sh" <<EOF
export LD_LIBRARY_PATH="$LIBS\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export FONTCONFIG_FILE="$DEST/fonts.conf"
export KERAS_ATTN_CHROMIUM="$R/usr/lib/chromium/chromium"
export KERAS_ATTN_CHROMEDRIVER="$R/usr/bin/chromedriver"
EOF

# Every shared library resolves, and both programs start.
# shellcheck disable=SC1091
. "$DEST/env.sh"
unresolved=$(ldd "$KERAS_ATTN_CHROMIUM" "$KERAS_ATTN_CHROMEDRIVER" |
  grep "not found" | sort -u || true)
if [ -n "$unresolved" ]; then
  echo "install_chromium: shared libraries still missing:" >&2
  echo "$unresolved" >&2
  exit 1
fi
"$KERAS_ATTN_CHROMIUM" --version
"$KERAS_ATTN_CHROMEDRIVER" --version
fc-match -f '%{family}\n' ':lang=ja' | head -1
echo "install_chromium: done; source $DEST/env.sh"
