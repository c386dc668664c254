#!/usr/bin/env bash
# Prints a deb822 source (sources.list.d/*.sources) for another Debian suite, e.g. `trixie`, on
# the same archive URIs and key as the machine's own Debian source, so CI names no mirror and uses
# whichever one the machine is set up with.
#
# Usage: debian-source.sh SUITE
#   APT_ETC (default /etc/apt) is where sources.list and sources.list.d/ are read from.
#
# The machine's Debian source is the first entry of type `deb` whose suites include this release's
# codename (from /etc/os-release; `-updates`/`-security` suites do not count) and whose components
# include `main`, read from sources.list.d/*.sources (deb822) and from sources.list and
# sources.list.d/*.list (one-line format).
set -euo pipefail

suite=${1:?usage: debian-source.sh SUITE}
apt_etc=${APT_ETC:-/etc/apt}
codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release | tr -d "\"'")
[ -n "$codename" ] || { echo "debian-source: no VERSION_CODENAME in /etc/os-release" >&2; exit 1; }

# deb822: stanzas are separated by blank lines; a field's continuation lines start with a space
# (a multi-line Signed-By holds a whole key); `#` lines are comments. Prints the URIs and the
# Signed-By field, continuation lines included, of the first matching stanza.
from_deb822() {
  awk -v codename="$codename" '
    function has(list, word,   n, i, parts) {
      n = split(list, parts, /[ \t]+/)
      for (i = 1; i <= n; i++) if (parts[i] == word) return 1
      return 0
    }
    function flush() {
      if (!done && has(f["types"], "deb") && has(f["suites"], codename) && has(f["components"], "main") \
          && f["uris"] != "" && tolower(f["enabled"]) != "no") {
        printf "URIs: %s\n", f["uris"]
        if (signed != "") printf "%s", signed
        done = 1
      }
      delete f; signed = ""; key = ""
    }
    /^#/ { next }
    /^[ \t]*$/ { flush(); next }
    /^[ \t]/ {
      if (key == "signed-by") { signed = signed $0 "\n"; next }
      value = $0; sub(/^[ \t]+/, "", value); sub(/[ \t]+$/, "", value)
      if (key != "") f[key] = f[key] " " value
      next
    }
    {
      key = tolower(substr($0, 1, index($0, ":") - 1))
      value = substr($0, index($0, ":") + 1); sub(/^[ \t]+/, "", value); sub(/[ \t]+$/, "", value)
      f[key] = value
      if (key == "signed-by") signed = "Signed-By:" (value == "" ? "" : " " value) "\n"
    }
    END { flush() }
  ' "$@"
}

# One-line format: `deb [opt=value ...] URI SUITE COMPONENT...`. Prints the URIs of every matching
# line (one source may list several mirrors) and the signed-by option of the first.
from_one_line() {
  awk -v codename="$codename" '
    /^[ \t]*deb[ \t]/ {
      line = $0; sub(/#.*/, "", line)
      options = ""
      if (match(line, /\[[^]]*\]/)) { options = substr(line, RSTART + 1, RLENGTH - 2); line = substr(line, 1, RSTART - 1) substr(line, RSTART + RLENGTH) }
      n = split(line, w, /[ \t]+/); i = (w[1] == "") ? 2 : 1
      if (w[i] != "deb" || w[i + 2] != codename) next
      main = 0
      for (j = i + 3; j <= n; j++) if (w[j] == "main") main = 1
      if (!main) next
      if (!(w[i + 1] in seen)) { seen[w[i + 1]] = 1; uris = uris (uris == "" ? "" : " ") w[i + 1] }
      if (signed == "" && match(options, /signed-by=[^ \t]+/)) signed = substr(options, RSTART + 10, RLENGTH - 10)
    }
    END {
      if (uris == "") exit
      printf "URIs: %s\n", uris
      if (signed != "") printf "Signed-By: %s\n", signed
    }
  ' "$@"
}

found=""
shopt -s nullglob
deb822_files=("$apt_etc"/sources.list.d/*.sources)
one_line_files=()
[ -f "$apt_etc/sources.list" ] && one_line_files+=("$apt_etc/sources.list")
one_line_files+=("$apt_etc"/sources.list.d/*.list)
for file in "${deb822_files[@]}"; do
  found=$(from_deb822 "$file")
  [ -z "$found" ] || break
done
if [ -z "$found" ] && [ "${#one_line_files[@]}" -gt 0 ]; then
  found=$(from_one_line "${one_line_files[@]}")
fi
if [ -z "$found" ]; then
  echo "debian-source: no Debian source for $codename (type deb, component main) in $apt_etc/sources.list or $apt_etc/sources.list.d/" >&2
  exit 1
fi

# The first line is the URIs; any others are the Signed-By field.
uris=${found%%$'\n'*}
signed_by=""
[ "$uris" = "$found" ] || signed_by=${found#*$'\n'}$'\n'
printf 'Types: deb\n%s\nSuites: %s\nComponents: main\n%s' "$uris" "$suite" "$signed_by"
