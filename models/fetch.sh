#!/bin/sh
# fetch.sh DEST: download the default model's source files (model.json and
# shards 1..11 of the TensorFlow.js VGG19 uint8 model) into DEST, verifying
# each against models/vgg19-keras-uint8.sha256. Files already present with
# the right hash are kept.
#
# Environment: NNST_MODEL_BASE overrides the base URL (a mirror, or a file://
# folder); NNST_MODEL_REF the git ref of the public copy (default: try
# master, then main).
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DEST" >&2
	exit 2
fi
dest=$1
sums="$(cd "$(dirname "$0")" && pwd)/vgg19-keras-uint8.sha256"
repo=https://raw.githubusercontent.com/azertat/tfjs_models

sha() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d' ' -f1
	else
		shasum -a 256 "$1" | cut -d' ' -f1
	fi
}

mkdir -p "$dest"
while read -r want name; do
	[ -n "$name" ] || continue
	out="$dest/$name"
	if [ -f "$out" ] && [ "$(sha "$out")" = "$want" ]; then
		continue
	fi
	ok=
	if [ -n "${NNST_MODEL_BASE:-}" ]; then
		bases=$NNST_MODEL_BASE
	else
		bases=
		for ref in ${NNST_MODEL_REF:-master main}; do
			bases="$bases $repo/$ref/models/little_shards"
		done
	fi
	for base in $bases; do
		echo "fetching $base/$name" >&2
		if curl -fsSL --retry 3 --connect-timeout 20 -o "$out.part" "$base/$name"; then
			got=$(sha "$out.part")
			if [ "$got" = "$want" ]; then
				mv "$out.part" "$out"
				ok=1
				break
			fi
			echo "$name: sha256 $got, want $want" >&2
		fi
		rm -f "$out.part"
	done
	if [ -z "$ok" ]; then
		echo "fetch.sh: could not fetch a verified $name" >&2
		exit 1
	fi
done <"$sums"
echo "fetched into $dest" >&2
