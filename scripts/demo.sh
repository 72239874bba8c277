#!/usr/bin/env bash
# `make demo`: what synaptune is for, in about 3 minutes on 2 CPUs.
#  1. sweep a bio-inspired learner (SatSOM, its map held at 30x30) on class-incremental split-digits;
#  2. export the best configuration as a preset;
#  3. compare it with the naive baseline on the same stream, 3 seeds each, on test data.
# Everything goes to ./mlflow.db, ./synaptune-results and ./demo/; the commands are printed as they run.
set -euo pipefail
bin="${SYNAPTUNE:-synaptune}"
name="demo-$(date +%Y%m%d-%H%M%S)"
mkdir -p demo
run() { echo "+ $*" >&2; "$@"; }
run "$bin" sweep --learner satsom --benchmark split-digits --set grid=30x30 --trials 9 --name "$name"
run "$bin" export --experiment "$name" -o "demo/$name-satsom.yaml"
run "$bin" compare "demo/$name-satsom.yaml" naive --seeds 3 --experiment "$name-compare" -o "demo/$name-compare"
echo "look further: mlflow ui --backend-store-uri sqlite:///mlflow.db   (experiments $name and $name-compare)"
