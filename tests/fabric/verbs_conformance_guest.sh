#!/bin/bash
# VM test: the fabric conformance suite on verbs over soft-RoCE.
# usage: verbs_conformance_guest.sh <repo root> <build dir>
set -u
source "$1/scripts/vm/guest-lib.sh"
rxe_up || exit 1
exec "$2/tests/verbs_conformance" "$RDMA_IP"
