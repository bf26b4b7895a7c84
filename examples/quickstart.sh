#!/usr/bin/env bash
# The main job on the embedded local host: submit many short jobs, watch them run, read a log.
# Needs only the package installed (no cloud account, no Node.js).
set -euo pipefail
echo "== submit a 1,000-task array, a dependent job, and a script with #PBS directives"
ARRAY=$(qsub -N sweep -J 1-1000 -c 'echo "task $HYPER_ARRAY_INDEX on $(hostname)"')
ARRAY_ID=${ARRAY%[]}
echo "array: $ARRAY"
qsub -N summary --depend "afterok:${ARRAY_ID}[]" -- echo "all 1000 tasks succeeded"
cat > /tmp/hyper-quickstart-job.sh <<'JOB'
#!/bin/sh
#PBS -N pbs-style
#PBS -l walltime=00:01:00
echo "hello from $PBS_JOBID"
JOB
qsub /tmp/hyper-quickstart-job.sh
echo "== wait for them"
for _ in $(seq 1 120); do
  if qstat -q default -s QUEUED --only-job-id-out | grep -q . \
     || qstat -q default -s RUNNING --only-job-id-out | grep -q . \
     || qstat -q default -s PENDING --only-job-id-out | grep -q .; then
    sleep 0.5
  else
    break
  fi
done
qstat
echo "== the log of task 7 of the array"
qlog "${ARRAY_ID}[7]"
echo "== done. Open the full-screen app with: hyper-tui"
