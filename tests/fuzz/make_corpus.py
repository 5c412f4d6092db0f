#!/usr/bin/env python3
"""Writes the hand-made part of the seed corpus (tests/fuzz/corpus/<target>/).

The seeds each target's fuzz_seeds() returns are written by the GCC driver:
  build/tests/<target> --write-corpus tests/fuzz/corpus/<target>
This script adds golden IUs and a CDB for every opcode the engine implements
(srp_target/scsi/logical_unit.cpp's table, command_usage.cpp). Byte layouts:
SRP r16a section 5 (all fields big-endian, tags opaque), SPC-4 / SBC-3 CDBs.
Idempotent: file names are fixed; run from the repository root."""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(bytes(data))


def cdb16(*b):
    return bytes(b) + bytes(16 - len(b))


def be(n, v):
    return v.to_bytes(n, "big")


TAG = bytes([0xa1, 0x1f, 0xe0, 0, 0, 0, 0, 7])

# ---- engine: a CDB (padded to 16 bytes), then data-out ----------------------
BLOCK = bytes(512)
engine = {
    "test_unit_ready": cdb16(0x00),
    "request_sense": cdb16(0x03, 0, 0, 0, 18),
    "inquiry_standard": cdb16(0x12, 0, 0, 0, 96),
    "inquiry_vpd_00": cdb16(0x12, 1, 0x00, 0, 0xff),
    "inquiry_vpd_80": cdb16(0x12, 1, 0x80, 0, 0xff),
    "inquiry_vpd_b0": cdb16(0x12, 1, 0xb0, 0, 0xff),
    "inquiry_vpd_b1": cdb16(0x12, 1, 0xb1, 0, 0xff),
    "inquiry_vpd_b2": cdb16(0x12, 1, 0xb2, 0, 0xff),
    "read_capacity10": cdb16(0x25),
    "get_lba_status": cdb16(0x9e, 0x12, *be(8, 0), *be(4, 64)),
    "read6": cdb16(0x08, 0, 0, 1, 1),
    "read12": cdb16(0xa8, 0, *be(4, 2), *be(4, 2)),
    "read16_fua": cdb16(0x88, 0x08, *be(8, 3), *be(4, 1)),
    "write6": cdb16(0x0a, 0, 0, 1, 1) + BLOCK,
    "write10": cdb16(0x2a, 0, *be(4, 4), 0, *be(2, 1)) + bytes([0x5a]) * 512,
    "write12": cdb16(0xaa, 0, *be(4, 5), *be(4, 1)) + BLOCK,
    "write_and_verify10": cdb16(0x2e, 0x02, *be(4, 6), 0, *be(2, 1)) + BLOCK,
    "write_and_verify12": cdb16(0xae, 0x02, *be(4, 6), *be(4, 1)) + BLOCK,
    "write_and_verify16": cdb16(0x8e, 0x02, *be(8, 6), *be(4, 1)) + BLOCK,
    "verify10": cdb16(0x2f, 0, *be(4, 0), 0, *be(2, 8)),
    "verify10_bytchk": cdb16(0x2f, 0x02, *be(4, 0), 0, *be(2, 1)) + BLOCK,
    "verify12": cdb16(0xaf, 0, *be(4, 0), *be(4, 8)),
    "verify16_bytchk3": cdb16(0x8f, 0x06, *be(8, 0), *be(4, 2)) + BLOCK,
    "pre_fetch10": cdb16(0x34, 0, *be(4, 0), 0, *be(2, 16)),
    "pre_fetch16": cdb16(0x90, 0, *be(8, 0), *be(4, 16)),
    "synchronize_cache10": cdb16(0x35, 0, *be(4, 0), 0, *be(2, 0)),
    "synchronize_cache16": cdb16(0x91, 0x02, *be(8, 0), *be(4, 0)),
    "write_same10": cdb16(0x41, 0, *be(4, 8), 0, *be(2, 4)) + BLOCK,
    "write_same16_unmap": cdb16(0x93, 0x08, *be(8, 8), *be(4, 4)) + BLOCK,
    "write_same16_ndob": cdb16(0x93, 0x09, *be(8, 8), *be(4, 4)),
    "compare_and_write": cdb16(0x89, 0, *be(8, 0), 0, 0, 0, 1) + BLOCK + BLOCK,
    "mode_sense10_all": cdb16(0x5a, 0x08, 0x3f, 0xff, 0, 0, 0, 0x10, 0),
    "mode_sense6_caching": cdb16(0x1a, 0, 0x08, 0, 0xff),
    "mode_select10_caching": cdb16(0x55, 0x10, 0, 0, 0, 0, 0, 0, 28) + bytes(8) + bytes([0x08, 0x12, 0x04]) + bytes(17),
    "start_stop_unit": cdb16(0x1b, 0, 0, 0, 0x01),
    "prevent_allow": cdb16(0x1e, 0, 0, 0, 1),
    "rsoc_all": cdb16(0xa3, 0x0c, 0x00, 0, 0, 0, *be(4, 4096)),
    "rsoc_one_rctd": cdb16(0xa3, 0x0c, 0x81, 0x28, 0, 0, *be(4, 64)),
    "pr_in_read_keys": cdb16(0x5e, 0x00, 0, 0, 0, 0, 0, *be(2, 256)),
    "pr_in_read_reservation": cdb16(0x5e, 0x01, 0, 0, 0, 0, 0, *be(2, 256)),
    "pr_in_report_capabilities": cdb16(0x5e, 0x02, 0, 0, 0, 0, 0, *be(2, 256)),
    "pr_in_read_full_status": cdb16(0x5e, 0x03, 0, 0, 0, 0, 0, *be(2, 256)),
    "pr_out_reserve": cdb16(0x5f, 0x01, 0x03, 0, 0, *be(4, 24)) + be(8, 0xaa) + bytes(16),
    "pr_out_release": cdb16(0x5f, 0x02, 0x03, 0, 0, *be(4, 24)) + be(8, 0xaa) + bytes(16),
    "pr_out_clear": cdb16(0x5f, 0x03, 0, 0, 0, *be(4, 24)) + be(8, 0xaa) + bytes(16),
    "pr_out_preempt": cdb16(0x5f, 0x04, 0x03, 0, 0, *be(4, 24)) + be(8, 0xaa) + be(8, 0xbb) + bytes(8),
    "pr_out_register_ignore": cdb16(0x5f, 0x06, 0, 0, 0, *be(4, 24)) + bytes(8) + be(8, 0xcc) + bytes(8),
    "reserve6": cdb16(0x16),
    "release6": cdb16(0x17),
    "reserve10": cdb16(0x56),
    "release10": cdb16(0x57),
    "report_luns": cdb16(0xa0, 0, 0, 0, 0, 0, *be(4, 256)),
    "unsupported_or_write16": cdb16(0x8b, 0, *be(8, 0), *be(4, 1)),
}
for name, data in engine.items():
    write("fuzz_engine", name, data)


# ---- SRP IUs (SRP r16a 5.x) ------------------------------------------------
def login_req(it_iu_len=8260, flags=0x80, imm_offset=68):
    # srp_login_req_rdma as ib_srp sends it as RDMA/CM private data: 56 bytes.
    iu = bytearray(56)
    iu[0:8] = TAG
    iu[8:10] = be(2, 0x0006)         # direct and indirect descriptors
    iu[10] = flags                   # 0x80: immediate data requested; low bits: SINGLE/MULTI
    iu[11] = 0x00                    # SRP_LOGIN_REQ
    iu[12:16] = be(4, it_iu_len)
    iu[16:24] = be(8, 0x1)           # initiator port id: initiator_ext || guid
    iu[24:32] = be(8, 0x0002c90300a1b2c3)
    iu[32:48] = be(8, 1) + be(8, 1)  # target port id: id_ext || ioc_guid (fuzz_wire's policy)
    iu[48:50] = be(2, imm_offset)
    return bytes(iu)


def tsk_mgmt(func, task_tag=bytes(8)):
    iu = bytearray(48)
    iu[0] = 0x01
    iu[8:16] = TAG
    iu[20:28] = bytes(8)  # LUN 0
    iu[30] = func
    iu[32:40] = task_tag
    return bytes(iu)


def short_iu(opcode, tag=TAG, reason_or_delta=None):
    iu = bytearray(16)
    iu[0] = opcode
    if reason_or_delta is not None:
        iu[4:8] = be(4, reason_or_delta)
    iu[8:16] = tag
    return bytes(iu)


def cmd(cdb, buf_fmt=0, out_cnt=0, in_cnt=0, add_cdb_len=0, tail=b""):
    iu = bytearray(48)
    iu[0] = 0x02
    iu[5] = buf_fmt          # data-out format high nibble, data-in low nibble
    iu[6] = out_cnt
    iu[7] = in_cnt
    iu[8:16] = TAG
    iu[20:28] = bytes(8)     # LUN 0
    iu[29] = 0               # task attribute SIMPLE
    iu[31] = add_cdb_len     # bytes, a multiple of 4
    iu[32:48] = cdb + bytes(16 - len(cdb))
    return bytes(iu) + tail


def direct(va=0, key=0, length=4096):
    return be(8, va) + be(4, key) + be(4, length)


wire = {
    "tsk_mgmt_abort_task": tsk_mgmt(0x01, TAG),
    "tsk_mgmt_abort_task_set": tsk_mgmt(0x02),
    "tsk_mgmt_clear_task_set": tsk_mgmt(0x04),
    "tsk_mgmt_lun_reset": tsk_mgmt(0x08),
    "tsk_mgmt_clear_aca": tsk_mgmt(0x40),
    "i_logout": short_iu(0x03),
    "cred_rsp": short_iu(0x41),
    "aer_rsp": short_iu(0x42),
    "t_logout": short_iu(0x80, reason_or_delta=1),
    "cred_req": short_iu(0x81, reason_or_delta=4),
    "login_req_ib_srp_default": login_req(),
    "login_req_multi_no_imm": login_req(4148, 0x01, 0),
    "login_rej": bytes([0xc2, 0, 0, 0]) + be(4, 0x00010006) + TAG + be(8, 0) + be(2, 6) + bytes(6),
    "login_rsp": bytes([0xc0, 0, 0, 0]) + be(4, 64) + TAG + be(4, 8260) + be(4, 8260) + be(2, 6) + bytes([0x80]) + bytes(25),
    "rsp_sense": bytes([0xc1, 0, 0, 0]) + be(4, 1) + TAG + bytes([0, 0, 0x02, 0x02]) + be(4, 0) + be(4, 0)
                 + be(4, 18) + be(4, 0) + bytes([0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0, 0, 0, 0, 0]),
    "rsp_tmf_response_data": bytes([0xc1, 0, 0, 0]) + be(4, 1) + TAG + bytes([0, 0, 0x01, 0]) + be(4, 0) + be(4, 0)
                             + be(4, 0) + be(4, 4) + bytes([0, 0, 0, 0]),
    "aer_req": bytes([0x82, 0, 0, 0]) + be(4, 1) + TAG + bytes(4) + bytes(8) + be(4, 18) + bytes(4)
               + bytes([0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x2a, 0x09, 0, 0, 0, 0]),
    "cmd_read10_direct": cmd(bytes([0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0]), 0x01, 0, 1, tail=direct()) + b"\0",
    "cmd_write10_direct": cmd(bytes([0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0]), 0x10, 1, 0, tail=direct()) + b"\0",
    # indirect: table descriptor (16) + total length (4), then two direct descriptors.
    "cmd_read16_indirect": cmd(bytes([0x88] + [0] * 9 + [0, 0, 0, 16, 0, 0]), 0x02, 0, 2,
                               tail=direct(0, 0, 32) + be(4, 8192) + direct() + direct()) + b"\0",
    "cmd_write16_indirect_ext": cmd(bytes([0x8a] + [0] * 9 + [0, 0, 0, 16, 0, 0]), 0x20, 1, 0,
                                    tail=direct(0x1000, 0x55, 64) + be(4, 8192) + direct()) + b"\0",
    "cmd_inquiry_no_data": cmd(bytes([0x12, 0, 0, 0, 0, 0])),
    "cmd_report_luns_additional_cdb": cmd(bytes([0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0]), 0x01, 0, 1, add_cdb_len=4,
                                          tail=bytes(4) + direct()) + b"\0",
}
# Immediate data (SRP-2): data-out format 0x10 (direct) with the descriptor
# pointing at offset 68 of this IU; ib_srp's default imm_data_offset.
imm = bytearray(cmd(bytes([0x2a, 0, 0, 0, 0, 1, 0, 0, 1, 0]), 0x10, 1, 0, tail=direct(68, 0, 512)))
imm += bytes(68 - len(imm)) + bytes([0xa5]) * 512
wire["cmd_write10_immediate"] = bytes(imm)
for name, data in wire.items():
    write("fuzz_wire", name, data)
    write("fuzz_dispatch", name, data)


# ---- initiator: a 52-byte SRP_LOGIN_RSP, then IUs with 2-byte lengths ------
def framed(*ius):
    return b"".join(be(2, len(i)) + i for i in ius)


def ours(tag_value):  # the Session's tags are native-endian (x86: little) 64-bit values
    return struct.pack("<Q", tag_value)


login_rsp = wire["login_rsp"][:4] + be(4, 8) + wire["login_rsp"][8:]
rsp_good = lambda slot: bytes([0xc1, 0, 0, 0]) + be(4, 1) + ours(((2 + slot) << 16) | slot) + bytes(4) + bytes(16)
rsp_residual = bytes([0xc1, 0, 0, 0]) + be(4, 2) + ours(2 << 16) + bytes([0, 0, 0x20 | 0x08, 0]) + be(4, 0) + be(4, 256) + bytes(8)
write("fuzz_initiator", "rsp_all_three", login_rsp + framed(rsp_good(0), rsp_good(1), rsp_good(2)))
write("fuzz_initiator", "rsp_residual_then_duplicate", login_rsp + framed(rsp_residual, rsp_residual))
write("fuzz_initiator", "cred_req_aer_req_t_logout", login_rsp + framed(wire["cred_req"], wire["aer_req"], wire["t_logout"]))
write("fuzz_initiator", "rsp_sense_wrong_tag", login_rsp + framed(wire["rsp_sense"], wire["rsp_tmf_response_data"]))
write("fuzz_initiator", "login_rsp_two_credits", bytes([0xc0, 0, 0, 0]) + be(4, 2) + TAG + be(4, 68) + be(4, 36) + be(2, 2) + bytes(26))
# login_rsp_huge_ti_iu_len was found by fuzz_initiator: crash-login-rsp-huge-max-ti-iu-len.
print("corpus written to", ROOT)
