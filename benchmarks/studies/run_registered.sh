#!/bin/sh
# The registered long studies, one after another, two workers each: every one continues from
# its committed journal (benchmarks/results/studies/NAME.journal), and one that has finished
# returns at once, so the same command picks up wherever the measurements stopped. Stop it
# with SIGTERM to the process group (the running trials are queued again), or with SIGUSR1 to
# it (the running trials and cells finish first, and no other study starts). ROOT is the
# checkout whose journals and runs/ folder are used (default: this one), so the code that
# runs can be another copy of it. The two short studies (vae_frontier, table3_fashion: a few
# hours each) come before tables_fashion (days), so their verdicts do not wait for it.
#
#   sh benchmarks/studies/run_registered.sh [WORKERS] [ROOT]
#
# STUDIES (environment) replaces the list. A study file with a [tune] table is run by
# genzoo tune, one without by genzoo study.
set -e
trap '' USR1  # for the workers: they finish what they run, and the stop ends this loop (set -e)
workers=${1:-2}
root=$(cd "${2:-.}" && pwd)
for name in ${STUDIES:-ebm_fashion vae_frontier table3_fashion tables_fashion}; do
    command=study
    if grep -q '^\[tune\]' "benchmarks/studies/$name.toml"; then command=tune; fi
    echo "$(date -u +%FT%TZ) $command $name"
    genzoo $command benchmarks/studies/$name.toml --workers "$workers" --quiet \
        --storage "$root/benchmarks/results/studies/$name.journal" --out "$root/runs/studies/$name"
done
