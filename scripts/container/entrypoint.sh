#!/bin/sh
# The image's entrypoint: turns the environment into srp_target options, then
# execs srp_target, which becomes PID 1 and handles SIGTERM itself (it blocks
# the signal and reads it from a signalfd, so the PID 1 rule that drops
# unhandled signals does not apply). Arguments are passed on to srp_target.
#   SRP_CONFIG          config file (same option names as the command line);
#                       set: the variables below are ignored except SRP_LISTEN
#   SRP_LISTEN          listening addresses, space separated (default 0.0.0.0:5555)
#   SRP_LUNS            --lun values, space separated (default: a SRP_LUN_SIZE
#                       sparse file on the volume, /var/lib/srp_target/lun0.img)
#   SRP_ACL_ADDRESSES   initiator source addresses allowed in (default: all)
set -eu
set --  --ready-file /run/srp_target/ready "$@"
for a in ${SRP_LISTEN:-}; do set -- "$@" --listen "$a"; done
if [ -n "${SRP_CONFIG:-}" ]; then
	exec /usr/local/bin/srp_target --config "$SRP_CONFIG" "$@"
fi
luns=${SRP_LUNS:-path=/var/lib/srp_target/lun0.img,size=${SRP_LUN_SIZE:-1G}}
for l in $luns; do set -- "$@" --lun "$l"; done
for a in ${SRP_ACL_ADDRESSES:-}; do set -- "$@" --acl-address "$a"; done
exec /usr/local/bin/srp_target --state-dir /var/lib/srp_target "$@"
