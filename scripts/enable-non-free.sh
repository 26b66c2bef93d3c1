#!/usr/bin/env bash
# Enable Debian's contrib and non-free sections when one of the given packages is neither
# installed nor installable (pico's and RHVoice's packages live in non-free), then refresh
# the package lists. Edits the Components: lines of the deb822 sources file, or the deb
# lines of a one-line sources.list.
set -euo pipefail
need=0
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
  apt-cache policy "$p" 2>/dev/null | grep -q "Candidate: [0-9]" || need=1
done
[ $need -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
deb822=/etc/apt/sources.list.d/debian.sources
oneline=/etc/apt/sources.list
for section in contrib non-free; do
  # add the section where it is missing (a trailing space or end of line after it: not non-free-firmware)
  if [ -f "$deb822" ]; then
    $SUDO sed -i -E "/^Components:/{/ $section( |\$)/!s/\$/ $section/}" "$deb822"
  fi
  if [ -f "$oneline" ]; then
    $SUDO sed -i -E "/^deb(-src)? .* main/{/ $section( |\$)/!s/\$/ $section/}" "$oneline"
  fi
done
echo "enabled Debian's contrib and non-free sections; updating the package lists"
$SUDO apt-get update -qq
