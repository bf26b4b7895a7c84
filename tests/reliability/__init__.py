"""Fault injection on a real local host (real daemon, workers and job processes).

    pytest tests/reliability -s          # -s shows one "RELIABILITY <scenario>: ..." line each

Sizes follow the issue by default (5,000-job runs, 8 submitters x 5,000 jobs) and scale with
HYPER_RELIABILITY_SCALE (e.g. 0.2 for a quick run, 2 for a longer one). The whole suite takes
about 2.5 minutes on an idle 2-core machine, 8 to 9 on one shared with other suites (load 12).
test_disk_full mounts a small tmpfs and test_cgroup2 a cgroup2 hierarchy, and so need root;
without it those tests are skipped (the worker's retry keeps its own test).
"""
