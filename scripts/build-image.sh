#!/usr/bin/env bash
# Builds the acmg controller image (deploy/controller/Containerfile) with the container image builder
# this machine has (docker, podman, buildah or nerdctl, looked for in that order on PATH;
# ACMG_IMAGE_BUILDER=NAME picks one) and tags it as the rendered controller expects:
# <controller.image.hub>/<controller.image.name>:<tag>, by default the profiles' ghcr.io/acmg/acmg and
# acmg's version (controller.image.tag "" = the version of the acmg that renders it).
#
# Usage: scripts/build-image.sh [--hub HUB] [--name NAME] [--tag TAG] [--platform P] [--push] [--skip-build] [--print-ref]
#   --hub HUB       registry and path to tag the image for, e.g. registry.example.com/platform
#                   (then install with --set controller.image.hub=HUB)
#   --name NAME     image name (default: controller.image.name, acmg)
#   --tag TAG       tag (default: acmg's version; then install with --set controller.image.tag=TAG)
#   --platform P    build for this platform (passed to the builder), e.g. linux/arm64
#   --push          push the image after building it
#   --skip-build    use dist/ as it is (already built by `npm run build`) instead of building it again
#   --print-ref     print the image reference it would build, and exit (no builder needed)
# Exit codes: 0 built (and pushed); 2 bad usage, or no image builder found; anything else: a step failed.
set -euo pipefail

ROOT="$(cd "${BASH_SOURCE[0]%/*}/.." && pwd)"
BUILDERS=(docker podman buildah nerdctl)

usage() {
  sed -n '8,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

hub="" name="" tag="" platform="" push=0 skip_build=0 print_ref=0
while (($#)); do
  case "$1" in
    --hub | --name | --tag | --platform)
      [[ $# -ge 2 && -n "$2" ]] || { echo "build-image: $1 needs a value" >&2; usage; }
      case "$1" in
        --hub) hub="$2" ;;
        --name) name="$2" ;;
        --tag) tag="$2" ;;
        --platform) platform="$2" ;;
      esac
      shift 2
      ;;
    --push) push=1; shift ;;
    --skip-build) skip_build=1; shift ;;
    --print-ref) print_ref=1; shift ;;
    -h | --help) usage ;;
    *) echo "build-image: unknown argument: $1" >&2; usage ;;
  esac
done

# The builder first: without one nothing else is worth doing. docker and nerdctl need their daemon
# (containerd for nerdctl) to answer; podman and buildah build without one.
builder=""
if ((!print_ref)); then
  candidates=("${BUILDERS[@]}")
  if [[ -n "${ACMG_IMAGE_BUILDER:-}" ]]; then
    case "$ACMG_IMAGE_BUILDER" in
      docker | podman | buildah | nerdctl) candidates=("$ACMG_IMAGE_BUILDER") ;;
      *) echo "build-image: ACMG_IMAGE_BUILDER=$ACMG_IMAGE_BUILDER: use one of ${BUILDERS[*]}" >&2; exit 2 ;;
    esac
  fi
  unusable=()
  for b in "${candidates[@]}"; do
    command -v "$b" >/dev/null 2>&1 || continue
    case "$b" in
      docker | nerdctl)
        if ! "$b" info >/dev/null 2>&1; then
          unusable+=("$b is installed but cannot build: \`$b info\` fails (is its daemon running, and may you use it?)")
          continue
        fi
        ;;
    esac
    builder="$b"
    break
  done
  if [[ -z "$builder" ]]; then
    {
      echo "build-image: no container image builder that can build here: looked for ${candidates[*]} on PATH."
      for u in "${unusable[@]}"; do echo "  $u"; done
      echo "  Install one of docker, podman, buildah or nerdctl (or start its daemon), or build the image on"
      echo "  a machine that has one, from a checkout after npm ci:"
      echo "    npm run build && node deploy/controller/stage.mjs /tmp/acmg-image"
      echo "    docker build -f deploy/controller/Containerfile -t <hub>/acmg:<version> /tmp/acmg-image"
      echo "  See README.md, \"Controller image\"."
    } >&2
    exit 2
  fi
fi

cd "$ROOT"
command -v node >/dev/null 2>&1 || { echo "build-image: node (20 or later) is needed to build acmg" >&2; exit 2; }
if ((!skip_build)) && ((!print_ref)); then
  npm run -s build
elif [[ ! -f dist/cli.cjs ]]; then
  npm run -s build
fi

# The reference, as acmg renders it: the controller Deployment's image for these values, so the tag is
# by construction what `acmg install --set controller.enabled=true [--set controller.image.hub=HUB]` pulls.
sets=(--set controller.enabled=true)
[[ -n "$hub" ]] && sets+=(--set "controller.image.hub=$hub")
[[ -n "$name" ]] && sets+=(--set "controller.image.name=$name")
[[ -n "$tag" ]] && sets+=(--set "controller.image.tag=\"$tag\"")
ref="$(node bin/acmg.js manifest generate --profile empty "${sets[@]}" -o json | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const dep = JSON.parse(s).items.find((o) => o.kind === "Deployment" && o.metadata.labels["app.kubernetes.io/component"] === "controller");
    process.stdout.write(dep.spec.template.spec.containers[0].image);
  });')"
version="$(node -p 'require("./package.json").version')"

if ((print_ref)); then
  echo "$ref"
  exit 0
fi

ctx="$(mktemp -d "${TMPDIR:-/tmp}/acmg-image.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
node deploy/controller/stage.mjs "$ctx/app"
cp deploy/controller/Containerfile "$ctx/app/Containerfile"

args=(-f "$ctx/app/Containerfile" --build-arg "VERSION=$version" -t "$ref")
[[ -n "$platform" ]] && args+=(--platform "$platform")
echo "build-image: $builder: building $ref" >&2
case "$builder" in
  buildah) buildah bud "${args[@]}" "$ctx/app" ;;
  *) "$builder" build "${args[@]}" "$ctx/app" ;;
esac
if ((push)); then
  echo "build-image: $builder: pushing $ref" >&2
  "$builder" push "$ref"
fi
echo "$ref"
