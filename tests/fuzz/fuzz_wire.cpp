// Fuzz target: every SRP IU parser and the login evaluation.
#include <cstring>

#include "common/wire/iu_encode.h"
#include "common/wire/iu_parse.h"
#include "srp_target/srp/login.h"
#include "tests/fuzz/fuzz_driver.h"

using namespace srp;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> iu(data, size);
    for (std::uint32_t offset : {0u, 52u, 68u, 4096u}) {
        if (auto cmd = wire::parse_cmd(iu, offset)) {
            // Touch every view the parser handed out: they must lie inside the input.
            volatile std::uint8_t sink = 0;
            for (auto b : cmd->cdb) sink = sink + b;
            for (const auto* buffer : {&cmd->data_out, &cmd->data_in}) {
                for (std::size_t i = 0; i < buffer->count_in_iu(); ++i) sink = sink + static_cast<std::uint8_t>(buffer->descriptor(i).len.value());
                for (auto b : buffer->immediate_data) sink = sink + b;
            }
        }
    }
    (void)wire::parse_login_req(iu);
    (void)wire::parse_login_rsp(iu);
    (void)wire::parse_login_rej(iu);
    (void)wire::parse_tsk_mgmt(iu);
    (void)wire::parse_i_logout(iu);
    (void)wire::parse_t_logout(iu);
    (void)wire::parse_cred_req(iu);
    (void)wire::parse_cred_rsp(iu);
    (void)wire::parse_aer_rsp(iu);
    if (auto rsp = wire::parse_rsp(iu)) {
        volatile std::uint8_t sink = 0;
        for (auto b : rsp->sense_data) sink = sink + b;
        for (auto b : rsp->response_data) sink = sink + b;
    }
    if (auto aer = wire::parse_aer_req(iu)) {
        volatile std::uint8_t sink = 0;
        for (auto b : aer->sense_data) sink = sink + b;
    }
    target::LoginPolicy policy;
    policy.target_port_id = wire::make_target_port_id(1, 1);
    (void)target::evaluate_login(target::LoginRequest{iu, "10.0.0.1", 0}, policy);
    return 0;
}

std::vector<std::vector<std::uint8_t>> fuzz_seeds() {
    std::vector<std::vector<std::uint8_t>> seeds;
    auto add = [&](const auto& iu) {
        const auto bytes = wire::iu_bytes(iu);
        seeds.emplace_back(bytes.begin(), bytes.end());
    };
    auto login = wire::make_login_req_rdma();
    login.req_it_iu_len = 8260;
    login.req_buf_fmt = 6;
    login.req_flags = 0x80;
    login.imm_data_offset = 68;
    login.target_port_id = wire::make_target_port_id(1, 1);
    add(login);
    add(wire::make_iu<wire::TskMgmt>(wire::Opcode::tsk_mgmt));
    add(wire::make_iu<wire::RspHeader>(wire::Opcode::rsp));
    add(wire::make_iu<wire::AerReqHeader>(wire::Opcode::aer_req));
    // SRP_CMDs: direct, indirect with two descriptors, immediate.
    std::vector<std::uint8_t> out(256);
    wire::CmdHeader h{};
    h.buf_fmt = 0x01;
    wire::DirectDescriptor d{};
    d.len = 4096;
    out.resize(*wire::encode_cmd(out, h, {}, wire::iu_bytes(d)));
    seeds.push_back(out);
    wire::IndirectHeader ih{};
    ih.table_desc.len = 32;
    ih.len = 8192;
    wire::DirectDescriptor two[2]{};
    std::vector<std::uint8_t> desc(64);
    desc.resize(*wire::encode_indirect(desc, ih, two));
    h.buf_fmt = 0x20;
    h.data_out_desc_cnt = 2;
    out.assign(256, 0);
    out.resize(*wire::encode_cmd(out, h, {}, desc));
    seeds.push_back(out);
    const std::uint8_t data[16] = {1, 2, 3};
    out.assign(256, 0);
    out.resize(*wire::encode_cmd_immediate(out, wire::CmdHeader{}, 68, data));
    seeds.push_back(out);
    return seeds;
}
