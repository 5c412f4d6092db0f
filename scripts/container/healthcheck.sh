#!/bin/sh
# The image's health check: srp_target (--ready-file) creates the file once
# it serves and touches it on every pass of its main loop (about once a
# second). Missing (not ready yet, or shutting down) or older than
# SRP_HEALTH_MAX_AGE_S seconds (the loop is stuck): unhealthy.
f=/run/srp_target/ready
[ -e "$f" ] || { echo "unhealthy: $f missing (not ready)"; exit 1; }
age=$(( $(date +%s) - $(stat -c %Y "$f") ))
[ "$age" -le "${SRP_HEALTH_MAX_AGE_S:-15}" ] || { echo "unhealthy: main loop silent for ${age} s"; exit 1; }
echo "healthy: srp_target pid $(cat "$f") touched its ready file ${age} s ago"
