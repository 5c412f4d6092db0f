# Guest fixtures for RDMA tests, sourced by scripts that run inside the test
# guest (scripts/vm/run-in-vm.sh) or natively on a host with an RDMA device.
#   rxe_up                      soft-RoCE on the first NIC (or use an existing RDMA device)
#   lio_srpt_start FILE MB ACL...   kernel LIO ib_srpt exporting FILE as LUN 0 over RDMA/CM
#                               (LIO_BACKEND=iblock: FILE is a block device, exported with iblock)
#   lio_srpt_stop
#   scst_srpt_start MODDIR FILE  SCST ib_srpt (modules from scripts/bench/scst-modules.sh in
#                               MODDIR) exporting FILE (vdisk_fileio) as LUN 0 over RDMA/CM
#                               (SCST_HANDLER=vdisk_blockio: FILE is a block device)
#   scst_srpt_stop
#   srp_initiator_load [MODULE PARAMS]   (re)load the kernel ib_srp with module parameters
#   srp_login ID_EXT IOC_GUID IP PORT [ADD_TARGET OPTIONS]   prints the new block device
#   srp_logout                  logs every kernel SRP remote port out
# Each function returns non-zero with a message on stderr when it fails.

vm_step() { echo; echo "=== $* (uptime $(cut -d' ' -f1 /proc/uptime))"; }
# Tells the host harness the guest is up and the test has begun (its
# VMX_READY_TIMEOUT deadline); rxe_up calls it. Outside the harness: nothing.
vm_ready() { [ -z "${VMX_OUT:-}" ] || : > "$VMX_OUT/ready" || echo "vm_ready: cannot write $VMX_OUT/ready" >&2; return 0; }
vm_fail() { echo "FAIL: $*" >&2; dmesg 2>/dev/null | tail -25 >&2; return 1; }

# Sets RDMA_DEV, RDMA_NETDEV, RDMA_IP, RDMA_GID0.
rxe_up() {
	modprobe -a rdma_rxe ib_uverbs rdma_ucm 2>/dev/null || true
	local dev
	for dev in /sys/class/infiniband/*; do
		[ -e "$dev" ] || continue
		RDMA_DEV=${dev##*/}
		break
	done
	if [ -z "${RDMA_DEV:-}" ]; then
		RDMA_NETDEV=$(ls /sys/class/net | grep -v '^lo$' | head -1)
		ip link set "$RDMA_NETDEV" up
		ip -4 addr show dev "$RDMA_NETDEV" | grep -q inet || ip addr add 10.0.2.15/24 dev "$RDMA_NETDEV"
		rdma link add rxe0 type rxe netdev "$RDMA_NETDEV" || { vm_fail "rdma link add rxe0 netdev $RDMA_NETDEV"; return 1; }
		RDMA_DEV=rxe0
	fi
	RDMA_NETDEV=${RDMA_NETDEV:-$(rdma link show "$RDMA_DEV/1" | sed -n 's/.*netdev \([^ ]*\).*/\1/p')}
	RDMA_IP=$(ip -4 -o addr show dev "$RDMA_NETDEV" | awk '{print $4}' | cut -d/ -f1 | head -1)
	RDMA_GID0=$(cat "/sys/class/infiniband/$RDMA_DEV/ports/1/gids/0")
	local i
	for i in $(seq 50); do
		rdma link show "$RDMA_DEV/1" | grep -q 'state ACTIVE' && break
		sleep 0.1
	done
	echo "rdma: $RDMA_DEV on $RDMA_NETDEV ip $RDMA_IP gid0 $RDMA_GID0 ($(rdma link show "$RDMA_DEV/1" | grep -o 'state [A-Z]*' | head -1))"
	vm_ready
}

LIO_CFG=/sys/kernel/config/target
# Sets LIO_IOC_GUID (= id_ext = ioc_guid, as ib_srpt checks) and LIO_PORT.
lio_srpt_start() {
	local file=$1 size_mb=$2; shift 2
	LIO_PORT=${LIO_PORT:-5555}
	mkdir -p /etc/target
	LIO_HBA=fileio_0
	[ "${LIO_BACKEND:-fileio}" = iblock ] && LIO_HBA=iblock_0
	modprobe -a target_core_mod target_core_file target_core_iblock || { vm_fail "modprobe target_core_file"; return 1; }
	# SCST's ib_srpt has the same module name, and modprobe quietly accepts
	# it as loaded: it must go first (scst_srpt_start does the reverse)
	if [ -d /sys/kernel/scst_tgt/targets/ib_srpt ]; then rmmod ib_srpt || { vm_fail "rmmod SCST's ib_srpt"; return 1; }; fi
	modprobe ib_srpt || { vm_fail "modprobe ib_srpt"; return 1; }
	mkdir -p $LIO_CFG/core/$LIO_HBA/lun0 || return 1
	if [ $LIO_HBA = iblock_0 ]; then
		echo "udev_path=$file" > $LIO_CFG/core/$LIO_HBA/lun0/control || { vm_fail "iblock control"; return 1; }
	else
		echo "fd_dev_name=$file,fd_dev_size=$((size_mb << 20))" > $LIO_CFG/core/$LIO_HBA/lun0/control || { vm_fail "fileio control"; return 1; }
	fi
	echo lioserial0 > $LIO_CFG/core/$LIO_HBA/lun0/wwn/vpd_unit_serial
	echo 1 > $LIO_CFG/core/$LIO_HBA/lun0/enable || { vm_fail "enable $LIO_HBA"; return 1; }
	mkdir -p $LIO_CFG/srpt
	echo "$LIO_PORT" > $LIO_CFG/srpt/discovery_auth/rdma_cm_port || { vm_fail "rdma_cm_port"; return 1; }
	# The srpt port is named after the GID's interface id in GUID form.
	local port=${RDMA_GID0#fe80:0000:0000:0000:}
	local tpg=$LIO_CFG/srpt/$port/$port
	mkdir -p "$tpg/lun/lun_0" || { vm_fail "mkdir srpt $port"; return 1; }
	ln -s $LIO_CFG/core/$LIO_HBA/lun0 "$tpg/lun/lun_0/lun0"
	local acl
	for acl in "$@"; do  # RDMA/CM logins match ACLs by GUID or by source IP
		mkdir -p "$tpg/acls/$acl/lun_0" && ln -s "$tpg/lun/lun_0" "$tpg/acls/$acl/lun_0/lun_0" || { vm_fail "acl $acl"; return 1; }
	done
	echo 1 > "$tpg/enable" || { vm_fail "enable tpg"; return 1; }
	LIO_IOC_GUID=$(cat /sys/module/ib_srpt/parameters/srpt_service_guid)
	LIO_IOC_GUID=${LIO_IOC_GUID#0x}
	echo "lio: ib_srpt port $port rdma_cm_port $LIO_PORT ioc_guid $LIO_IOC_GUID file $file acls: $*"
}

lio_srpt_stop() {
	local tpg acl
	for tpg in $LIO_CFG/srpt/*/*/; do
		[ -e "$tpg/enable" ] || continue
		echo 0 > "$tpg/enable"
		for acl in "$tpg"acls/*; do
			[ -d "$acl" ] || continue
			rm -f "$acl"/lun_0/lun_0; rmdir "$acl"/lun_0 "$acl"
		done
		rm -f "$tpg"lun/lun_0/lun0; rmdir "$tpg"lun/lun_0 "$tpg"
	done
	rmdir $LIO_CFG/srpt/*/ 2>/dev/null
	rmdir $LIO_CFG/srpt 2>/dev/null
	local hba=${LIO_HBA:-fileio_0}
	echo 0 > $LIO_CFG/core/$hba/lun0/enable 2>/dev/null
	rmdir $LIO_CFG/core/$hba/lun0 $LIO_CFG/core/$hba 2>/dev/null
	modprobe -r ib_srpt 2>/dev/null || true
	echo "lio: stopped"
}

SCST_SYS=/sys/kernel/scst_tgt
# Sets SCST_IOC_GUID (= id_ext = ioc_guid) and SCST_PORT. Needs rxe_up first.
scst_srpt_start() {
	local moddir=$1 file=$2 m deps
	SCST_PORT=${SCST_PORT:-5555}
	# insmod does not resolve dependencies: load the guest kernel's modules
	# that SCST's need (scsi_mod, dlm, crc-t10dif, libcrc32c, rdma_cm, ...)
	deps=$(modinfo -F depends "$moddir"/{scst,scst_vdisk,ib_srpt}.ko | tr ',' '\n' | grep -v -x -e scst -e '' | sort -u)
	# shellcheck disable=SC2086
	modprobe -a $deps || { vm_fail "modprobe $deps"; return 1; }
	# vdisk_fileio keeps reservation and mode page state there (the guest
	# root is an overlay on tmpfs, so this is writable and dies with the boot)
	mkdir -p /var/lib/scst/pr /var/lib/scst/vdev_mode_pages || return 1
	# LIO's ib_srpt has the same module name: it must go first
	if [ -d /sys/module/ib_srpt ] && [ ! -d $SCST_SYS/targets/ib_srpt ]; then
		modprobe -r ib_srpt || { vm_fail "unload LIO ib_srpt"; return 1; }
	fi
	for m in scst scst_vdisk; do  # the cores may stay loaded across restarts
		[ -d /sys/module/$m ] || insmod "$moddir/$m.ko" || { vm_fail "insmod $moddir/$m.ko"; return 1; }
	done
	# Loaded already (a start without a stop): its port must be the one asked for.
	if [ -d /sys/module/ib_srpt ] && [ "$(cat /sys/module/ib_srpt/parameters/rdma_cm_port 2>/dev/null)" != "$SCST_PORT" ]; then
		rmmod ib_srpt || { vm_fail "rmmod SCST's ib_srpt (other rdma_cm_port)"; return 1; }
	fi
	[ -d /sys/module/ib_srpt ] || insmod "$moddir/ib_srpt.ko" rdma_cm_port="$SCST_PORT" ||
		{ vm_fail "insmod $moddir/ib_srpt.ko"; return 1; }
	# remembered for scst_srpt_stop (SCST_HANDLER may be set for this call only)
	SCST_DEV_HANDLER=${SCST_HANDLER:-vdisk_fileio}
	echo "add_device scst0 filename=$file" > "$SCST_SYS/handlers/$SCST_DEV_HANDLER/mgmt" ||
		{ vm_fail "$SCST_DEV_HANDLER add_device"; return 1; }
	# ib_srpt names its target after the port's GID 0
	local tgt=$SCST_SYS/targets/ib_srpt/$RDMA_GID0
	[ -d "$tgt" ] || { vm_fail "no SCST target $tgt: $(ls $SCST_SYS/targets/ib_srpt)"; return 1; }
	echo "add scst0 0" > "$tgt/luns/mgmt" || { vm_fail "add LUN 0"; return 1; }
	echo 1 > "$tgt/enabled" || { vm_fail "enable $tgt"; return 1; }
	SCST_IOC_GUID=$(cat /sys/module/ib_srpt/parameters/srpt_service_guid)
	SCST_IOC_GUID=${SCST_IOC_GUID#0x}
	echo "scst: ib_srpt target $RDMA_GID0 rdma_cm_port $SCST_PORT ioc_guid $SCST_IOC_GUID $SCST_DEV_HANDLER $file"
}

# Leaves scst and scst_vdisk loaded; unloads SCST's ib_srpt (so LIO's can load).
scst_srpt_stop() {
	local tgt=$SCST_SYS/targets/ib_srpt/$RDMA_GID0
	echo 0 > "$tgt/enabled" 2>/dev/null
	echo "del 0" > "$tgt/luns/mgmt" 2>/dev/null
	echo "del_device scst0" > "$SCST_SYS/handlers/${SCST_DEV_HANDLER:-vdisk_fileio}/mgmt" 2>/dev/null
	if [ -d /sys/module/ib_srpt ]; then rmmod ib_srpt || { vm_fail "rmmod SCST's ib_srpt"; return 1; }; fi
	echo "scst: stopped"
}

srp_initiator_load() {
	modprobe -a sd_mod scsi_transport_srp || { vm_fail "modprobe sd_mod"; return 1; }
	if [ -d /sys/module/ib_srp ]; then srp_logout >/dev/null; modprobe -r ib_srp; fi
	modprobe ib_srp "$@" || { vm_fail "modprobe ib_srp $*"; return 1; }
}

# srp_login ID_EXT IOC_GUID IP PORT [OPTIONS]: prints the block device on stdout.
srp_login() {
	local id_ext=$1 ioc_guid=$2 ip=$3 port=$4 extra=${5:-}
	[ -d /sys/module/ib_srp ] || srp_initiator_load >&2 || return 1
	local before
	before=$(ls /sys/class/scsi_host 2>/dev/null)
	local pfx
	pfx=$(echo "${RDMA_GID0//:}" | cut -c1-16)
	local login="id_ext=$id_ext,ioc_guid=$ioc_guid,initiator_ext=$pfx,dest=$ip:$port${extra:+,$extra}"
	echo "srp: echo $login > /sys/class/infiniband_srp/srp-$RDMA_DEV-1/add_target" >&2
	# After a logout ib_srp frees the old target port asynchronously, a moment
	# after its srp_remote_ports entry is gone; until then a login to the same
	# port fails with EEXIST ("Already connected"). Retry for up to 5 s.
	local try
	for try in $(seq 25); do
		echo "$login" 2>/dev/null > "/sys/class/infiniband_srp/srp-$RDMA_DEV-1/add_target" && break
		dmesg | tail -3 | grep -q "Already connected to target port" || { vm_fail "add_target refused: $login"; return 1; }
		[ "$try" -eq 25 ] && { vm_fail "add_target refused (still connected after 5 s): $login"; return 1; }
		sleep 0.2
	done
	local i h b
	for i in $(seq 150); do
		for h in /sys/class/scsi_host/*; do
			echo "$before" | grep -qx "${h##*/}" && continue
			for b in "$h"/device/target*/*/block/*; do
				[ -e "$b" ] && [ -b "/dev/${b##*/}" ] && { echo "/dev/${b##*/}"; return 0; }
			done
		done
		sleep 0.2
	done
	vm_fail "no SRP block device appeared after login"
}

srp_logout() {
	local p hosts
	# ib_srp removes a target port asynchronously: its srp_remote_ports entry
	# goes first, its SCSI host (and its place in the "already connected"
	# check) last. Wait for the SCSI hosts, so the next login is not refused.
	hosts=$(grep -l '^ib_srp$' /sys/class/scsi_host/*/proc_name 2>/dev/null | xargs -r -n1 dirname)
	for p in /sys/class/srp_remote_ports/*; do
		[ -e "$p/delete" ] && echo 1 > "$p/delete"
	done
	for p in $(seq 150); do
		ls /sys/class/srp_remote_ports/ 2>/dev/null | grep -q . && { sleep 0.1; continue; }
		local h left=0
		for h in $hosts; do [ -e "$h" ] && left=1; done
		[ $left -eq 0 ] && break
		sleep 0.1
	done
	echo "srp: logged out"
}

# lun_dev BLOCKDEV LUN: the block device of LUN LUN behind the SCSI host of BLOCKDEV.
lun_dev() {
	local host b
	host=$(readlink -f /sys/block/${1#/dev/}/device | sed 's|.*/\(host[0-9]*\)/.*|\1|')
	for b in /sys/class/scsi_host/$host/device/target*/*:*:*:$2/block/*; do
		[ -e "$b" ] && { echo "/dev/${b##*/}"; return 0; }
	done
	return 1
}
# nullb NAME SIZE_MB COMPLETION_NSEC: a null_blk through configfs, memory
# backed (NULLB_MEMORY_BACKED=0: data is not kept), completing in timer mode
# (NULLB_IRQMODE=0: at once, in the submitter's context)
nullb() {
	local d=/sys/kernel/config/nullb/$1
	mkdir $d || return 1
	echo $2 > $d/size; echo "${NULLB_MEMORY_BACKED:-1}" > $d/memory_backed; echo 2 > $d/queue_mode
	echo "${NULLB_IRQMODE:-2}" > $d/irqmode
	echo $3 > $d/completion_nsec; echo 512 > $d/blocksize; echo 1 > $d/power || return 1
	echo /dev/$1
}

# srp_target_wait_ready LOG PID READY_BEFORE [TENTHS]: waits (20 s by default)
# until LOG holds more "srp_target ready" lines than READY_BEFORE (a log may
# be appended to across restarts); returns 1 as soon as PID exits, or at the
# time limit.
srp_target_wait_ready() {
	local log=$1 pid=$2 before=${3:-0} tenths=${4:-200}
	for _ in $(seq "$tenths"); do
		[ "$(grep -c "srp_target ready" "$log" 2>/dev/null)" -gt "$before" ] && return 0
		kill -0 "$pid" 2>/dev/null || { vm_fail "srp_target exited at start"; return 1; }
		sleep 0.1
	done
	vm_fail "srp_target did not start within $((tenths / 10)) s"
}

# srp_target_stats LOG PID: asks the target for a statistics line (SIGUSR1)
# and prints it once it is there, not a stale one.
srp_target_stats() {
	local log=$1 pid=$2 before
	before=$(grep -c "stats:" "$log")
	kill -USR1 "$pid"
	for _ in $(seq 100); do [ "$(grep -c "stats:" "$log")" -gt "$before" ] && break; sleep 0.1; done
	grep "stats:" "$log" | tail -1
}
