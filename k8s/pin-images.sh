#!/usr/bin/env bash
# Pin every image of the manifests by digest (k8s/README.md, "Images pinned by digest").
#
#   k8s/pin-images.sh [KUSTOMIZATION]           resolve newName:newTag of each entry of its
#                                               `images:` block and write the entry's `digest:`
#   k8s/pin-images.sh --check [KUSTOMIZATION]   exit 1 if an entry's digest is not resolved
#
# KUSTOMIZATION defaults to k8s/base/kustomization.yaml, the one place where images are named.
# A tag is resolved with `crane digest` if crane is installed, else with
# `docker buildx imagetools inspect`; both ask the registry (your docker / crane login is
# used for a private one) and give the digest of the manifest list for multi-platform images,
# so every node pulls its own platform of exactly that list. Run it again after pushing a new
# image under the same tag, and commit the result: the digest is what the cluster runs.
set -euo pipefail

check=0
if [[ ${1:-} == --check ]]; then
  check=1
  shift
fi
file=${1:-"$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/base/kustomization.yaml"}
[[ -f $file ]] || { echo "pin-images: no such file: $file" >&2; exit 2; }

digest_re='^sha256:[0-9a-f]{64}$'

# The images: block as lines "name newName newTag digest" (newName defaults to name).
entries() {
  awk '
    function flush() { if (name != "") print name, (new != "" ? new : name), tag, dig; name = new = tag = dig = "" }
    function value(s) { sub(/^[^:]*:[ \t]*/, "", s); sub(/[ \t]+#.*$/, "", s); gsub(/["\047]/, "", s); return s }
    /^images:/ { inblock = 1; next }
    inblock && /^[^ \t#-]/ { flush(); inblock = 0 }
    !inblock { next }
    /^[ \t]*-[ \t]*name:/ { flush(); line = $0; sub(/-[ \t]*/, "", line); name = value(line); next }
    /^[ \t]*newName:/ { new = value($0); next }
    /^[ \t]*newTag:/ { tag = value($0); next }
    /^[ \t]*digest:/ { dig = value($0); next }
    END { flush() }
  ' "$file"
}

resolve() {  # REF -> its digest on stdout
  local ref=$1 out
  if command -v crane >/dev/null 2>&1; then
    out=$(crane digest "$ref")
  elif command -v docker >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1; then
    out=$(docker buildx imagetools inspect --format '{{.Manifest.Digest}}' "$ref")
  else
    echo "pin-images: neither crane nor docker buildx is installed" >&2
    return 1
  fi
  out=$(printf '%s' "$out" | tr -d '[:space:]')
  if [[ ! $out =~ $digest_re ]]; then
    echo "pin-images: $ref: not a digest: '$out'" >&2
    return 1
  fi
  printf '%s\n' "$out"
}

mapfile -t lines < <(entries)
[[ ${#lines[@]} -gt 0 ]] || { echo "pin-images: $file has no images: entries" >&2; exit 2; }

if ((check)); then
  bad=0
  for line in "${lines[@]}"; do
    read -r name new tag dig <<<"$line"
    if [[ ! ${dig:-} =~ $digest_re ]]; then
      echo "pin-images: $name ($new:$tag) is not pinned: digest '${dig:-}'; run k8s/pin-images.sh" >&2
      bad=1
    fi
  done
  exit "$bad"
fi

# Resolve every entry first, so that a failure leaves the file untouched.
declare -A pinned=()
for line in "${lines[@]}"; do
  read -r name new tag dig <<<"$line"
  [[ -n ${tag:-} ]] || { echo "pin-images: $name has no newTag to resolve" >&2; exit 1; }
  [[ -n ${dig:-} ]] || { echo "pin-images: $name has no digest: line to write" >&2; exit 1; }
  pinned[$name]=$(resolve "$new:$tag")
  echo "$name: $new:$tag@${pinned[$name]}"
done

map=""
for name in "${!pinned[@]}"; do map+="$name=${pinned[$name]};"; done
tmp=$(mktemp "$file.XXXXXX")
trap 'rm -f "$tmp"' EXIT
awk -v map="$map" '
  BEGIN { n = split(map, pairs, ";"); for (i = 1; i <= n; i++) if (pairs[i] != "") { split(pairs[i], kv, "="); want[kv[1]] = kv[2] } }
  /^images:/ { inblock = 1 }
  inblock && /^[^ \t#-]/ && !/^images:/ { inblock = 0 }
  inblock && /^[ \t]*-[ \t]*name:/ { line = $0; sub(/^[^:]*:[ \t]*/, "", line); sub(/[ \t]+#.*$/, "", line); gsub(/["\047]/, "", line); name = line }
  inblock && /^[ \t]*digest:/ && (name in want) { match($0, /^[ \t]*digest:[ \t]*/); print substr($0, 1, RLENGTH) want[name]; next }
  { print }
' "$file" >"$tmp"
cat "$tmp" >"$file"
echo "pin-images: wrote ${#pinned[@]} digests to $file"
