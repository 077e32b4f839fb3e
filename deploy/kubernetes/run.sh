#!/usr/bin/env sh
# Runs the sharded campaign, then the merge, and prints the merged summary; exits with the
# campaign's exit code. Needs kubectl pointed at a cluster that can pull faultline:latest.
set -eu
here=$(dirname "$0")

kubectl delete job faultline-fuzz faultline-merge --ignore-not-found
kubectl apply -f "$here/fuzz-job.yaml"
kubectl wait --for=condition=complete --timeout=24h job/faultline-fuzz
kubectl apply -f "$here/merge-job.yaml"

# The merge Job either completes (the campaign passed) or fails (it found failing seeds, or
# a summary was bad): wait for whichever comes.
while :; do
    status=$(kubectl get job faultline-merge -o jsonpath='{.status.succeeded}/{.status.failed}')
    case "$status" in
        1/*|*/1) break ;;
    esac
    sleep 5
done
kubectl logs job/faultline-merge
pod=$(kubectl get pods -l job-name=faultline-merge -o jsonpath='{.items[0].metadata.name}')
exit "$(kubectl get pod "$pod" -o jsonpath='{.status.containerStatuses[0].state.terminated.exitCode}')"
