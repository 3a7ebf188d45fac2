#!/bin/sh
# Runs the relocated headless shell with the libraries packed beside it.
d=$(dirname "$(readlink -f "$0")")
export LD_LIBRARY_PATH="$d/lib:$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$d/chromium-headless-shell" "$@"
