#!/bin/sh
# Entry point of a hyper-tui worker container: AWS Batch runs it (command ["/start.sh"]).
#
# Configured by the environment (hyper_tui/aws/schema.py WORKER_ENV): the job definition sets
#   HYPER_HOST HYPER_MAIN_REGION HYPER_JOBS_TABLE HYPER_LOG_GROUP HYPER_DEFINITION HYPER_REGION
#   (and HYPER_VCPUS, HYPER_IDLE_TIMEOUT); the scaler adds, per submitted worker,
#   HYPER_QUEUE and HYPER_WORK_QUEUE_URL.
#   The job definition also sets HYPER_JOB_ROLE_ARN: the agent assumes that role for its
#   jobs and serves them its credentials from a loopback endpoint (job_credentials.py).
# The agent runs as root (the container's user) and runs every job as HYPER_JOB_USER (default
# "worker", uid 1000 of the base image), which cannot read the agent's environment.
# An image may add its own setup (mounts, licences...) as /etc/hyper/start.d/*.sh: each is
# sourced, in name order, before the agent starts.
set -eu

missing=""
for var in HYPER_HOST HYPER_MAIN_REGION HYPER_JOBS_TABLE HYPER_WORK_QUEUE_URL HYPER_QUEUE \
           HYPER_DEFINITION; do
    eval "value=\${$var:-}"
    [ -n "$value" ] || missing="$missing $var"
done
if [ -n "$missing" ]; then
    echo "start.sh: not set:$missing; the job definition and the scaler set them" >&2
    exit 64
fi

if [ -d /etc/hyper/start.d ]; then
    for part in /etc/hyper/start.d/*.sh; do
        [ -r "$part" ] || continue
        # shellcheck disable=SC1090
        . "$part"
    done
fi

# The agent's STS calls (the jobs' credentials) go to the region's own endpoint (reachable
# through an STS VPC endpoint from subnets without internet).
export AWS_STS_REGIONAL_ENDPOINTS=regional

# One worker id per container: the Batch job id (array children end in :<index>).
raw_id="${AWS_BATCH_JOB_ID:-$(hostname)}"
worker_id="w-$(printf '%s' "$raw_id" | tr -c 'A-Za-z0-9_-' '-')"

exec python -m hyper_tui.agent --transport aws \
    --worker-id "$worker_id" \
    --queue "$HYPER_QUEUE" --definition "$HYPER_DEFINITION" \
    --region "${HYPER_REGION:-${AWS_REGION:-$HYPER_MAIN_REGION}}" \
    --vcpus "${HYPER_VCPUS:-1}" \
    --idle-timeout "${HYPER_IDLE_TIMEOUT:-30}"
