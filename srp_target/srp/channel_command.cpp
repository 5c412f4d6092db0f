// SRP_CMD: descriptors, data-out by RDMA READ or immediate data, data-in by
// RDMA WRITE chained with the SRP_RSP, residuals and credits (SRP r16a 6.8, 6.9).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "common/wire/iu_encode.h"
#include "srp_target/backstore/sigbus_guard.h"
#include "srp_target/srp/channel.h"

namespace srp::target {

using fabric::PostError;
using wire::DataFormat;

namespace {
// SPC-4: INVALID FIELD IN COMMAND INFORMATION UNIT, the SRP IU being the command's.
constexpr auto kInvalidFieldInIu = scsi::Asc::invalid_field_in_command_iu;
}  // namespace

void Channel::handle_cmd(Request& r, std::span<const std::uint8_t> iu) {
    ++stats_.commands;
    if (iu.size() >= 16) std::memcpy(r.tag.data(), iu.data() + 8, r.tag.size());
    auto cmd = wire::parse_cmd(iu, params_.imm_data_offset);
    if (!cmd) {
        ++stats_.protocol_errors;
        if (iu.size() < 16) {  // no tag to answer to: drop it, give the credit back later
            spdlog::warn("[{}] SRP_CMD of {} bytes dropped", params_.name, iu.size());
            ++pending_credits_;
            return release(r);
        }
        spdlog::warn("[{}] SRP_CMD rejected: {}", params_.name, wire::to_string(cmd.error()));
        return reject_command(r, kInvalidFieldInIu);
    }
    r.lun = scsi::decode_lun(cmd->header.lun);
    if (logging_out_) {  // SAM-5 5.3.1: BUSY, the initiator retries it after the logout
        r.task.complete_status(scsi::Status::busy);
        return respond(r);
    }
    const auto& out = cmd->data_out;
    const auto& in = cmd->data_in;
    r.data_out_described = out.total_length;
    r.data_in_described = in.total_length;
    r.names_data_out = out.format != DataFormat::none;
    if (out.format != DataFormat::none && in.format != DataFormat::none) {
        spdlog::warn("[{}] bidirectional SRP_CMD rejected", params_.name);
        return reject_command(r, kInvalidFieldInIu);
    }
    const auto& buffer = out.format != DataFormat::none ? out : in;
    if (buffer.format == DataFormat::direct || buffer.format == DataFormat::indirect) {
        if (buffer.table_count > kMaxDescriptorsPerCommand) {
            spdlog::warn("[{}] SRP_CMD with {} descriptors rejected (limit {})", params_.name, buffer.table_count,
                         kMaxDescriptorsPerCommand);
            return reject_command(r, kInvalidFieldInIu);
        }
        if (buffer.table_is_partial()) {  // the rest of the table is in initiator memory
            r.table = buffer.table;
            r.table_count = buffer.table_count;
            r.table_for_data_out = &buffer == &out;
        } else {
            collect_remote_segments(buffer, {}, r.remote);
        }
    }
    if (out.format == DataFormat::immediate) ++stats_.immediate_commands;

    r.task = target_.submit(nexus_, r.lun, cmd->cdb, r.data_out_described);
    // Immediate data lives in the receive buffer, reposted when this returns
    // unless drive() keeps it for a write in place (immediate_in_place()).
    if (out.format == DataFormat::immediate) r.immediate = out.immediate_data;
    drive(r);
    r.immediate = {};
}

void Channel::after_table_fetch_start(Request& r) {
    // Fetch the whole descriptor table with one RDMA READ (neither kernel target does this).
    ++stats_.external_tables;
    const std::uint32_t bytes = r.table_count * static_cast<std::uint32_t>(sizeof(wire::DirectDescriptor));
    const fabric::LocalSegment local = table_mr_->segment(std::size_t{r.index} * kTableBytes, bytes);
    const fabric::RdmaOp op{fabric::RemoteSegment{r.table.va.value(), r.table.key.value(), bytes}, {&local, 1}};
    if (auto posted = connection_->post_rdma_read(r.index, {&op, 1}); !posted) {
        if (posted.error() == PostError::queue_full) return wait_for_resources(r, Resume::fetch_table);
        return begin_close("cannot post an RDMA READ");
    }
    ++outstanding_chains_;
    advance(r, RequestState::fetching_table);
}

void Channel::after_table(Request& r) {
    const auto table = table_buffer(r).first(r.table_count * sizeof(wire::DirectDescriptor));
    r.remote.clear();
    for (std::size_t i = 0; i < r.table_count; ++i) {
        const auto d = wire::descriptor_at(table, i);
        r.remote.push_back(fabric::RemoteSegment{d.va.value(), d.key.value(), d.len.value()});
    }
    if (r.table_for_data_out) return start_data_out(r);
    respond(r);
}

bool Channel::take_bounce(Request& r, std::uint64_t bytes) {
    // One contiguous run, first fit: an io backstore reads and writes it as one buffer.
    const auto chunks = static_cast<std::uint32_t>((bytes + kBounceChunkBytes - 1) / kBounceChunkBytes);
    if (chunks > bounce_free_chunks_) return false;
    std::uint32_t run = 0;
    for (std::uint32_t i = 0; i < bounce_used_.size(); ++i) {
        run = bounce_used_[i] ? 0 : run + 1;
        if (run < chunks) continue;
        r.bounce_first = i + 1 - chunks;
        r.bounce_count = chunks;
        for (std::uint32_t j = r.bounce_first; j <= i; ++j) bounce_used_[j] = true;
        bounce_free_chunks_ -= chunks;
        return true;
    }
    return false;
}

void Channel::free_bounce(Request& r) {
    for (std::uint32_t j = r.bounce_first; j < r.bounce_first + r.bounce_count; ++j) bounce_used_[j] = false;
    bounce_free_chunks_ += r.bounce_count;
    r.bounce_count = 0;
}

std::span<std::uint8_t> Channel::bounce_bytes(const Request& r) const {
    return bounce_memory_.bytes().subspan(std::size_t{r.bounce_first} * kBounceChunkBytes,
                                          std::size_t{r.bounce_count} * kBounceChunkBytes);
}

bool Channel::in_bounce(std::span<const std::uint8_t> bytes) const {
    const auto all = bounce_memory_.bytes();
    return !bytes.empty() && bytes.data() >= all.data() && bytes.data() + bytes.size() <= all.data() + all.size();
}

// Local segments for bytes: bounce memory or a registered backstore used in
// place, or bounce chunks with a copy (data-in: copied here).
bool Channel::map_local(Request& r, std::span<std::uint8_t> bytes, bool data_in) {
    r.local.clear();
    if (in_bounce(bytes)) {  // an io backstore's data: already in registered memory
        r.local.push_back(bounce_mr_->segment(static_cast<std::size_t>(bytes.data() - bounce_memory_.data()),
                                              static_cast<std::uint32_t>(bytes.size())));
        return true;
    }
    if (auto direct = backstores_.find(bytes)) {
        r.local.push_back(*direct);
        return true;
    }
    if (r.bounce_count == 0) {
        if (!take_bounce(r, bytes.size())) return false;
        ++stats_.bounce_commands;
    }
    auto segment = bounce_mr_->segment(std::size_t{r.bounce_first} * kBounceChunkBytes,
                                       static_cast<std::uint32_t>(bytes.size()));
    // A memory backstore's mapping may fault (truncated file): the copy is guarded.
    if (data_in && !guarded_copy(segment.address, bytes.data(), bytes.size())) {
        r.task.complete_check(scsi::SenseBuilder{scsi::SenseKey::medium_error, scsi::Asc::unrecovered_read_error, {}, {}});
        return false;
    }
    r.local.push_back(segment);
    return true;
}

void Channel::start_data_out(Request& r) {
    auto buffer = r.task.data_out_buffer();
    if (!map_local(r, buffer, false)) return wait_for_resources(r, Resume::read_data);
    if (!r.plan.build(r.remote, r.local, buffer.size(), connection_->max_rdma_read_sge())) {
        spdlog::warn("[{}] data-out descriptors describe less than their total length", params_.name);
        r.task.complete_check(scsi::SenseBuilder{scsi::SenseKey::illegal_request, kInvalidFieldInIu, {}, {}});
        return respond(r);
    }
    if (auto posted = connection_->post_rdma_read(r.index, r.plan.ops()); !posted) {
        if (posted.error() == PostError::queue_full) return wait_for_resources(r, Resume::read_data);
        return begin_close("cannot post RDMA READ");
    }
    ++outstanding_chains_;
    advance(r, RequestState::reading_data);
}

void Channel::reject_command(Request& r, scsi::Asc asc) {
    r.task = ScsiTask{};
    r.task.complete_check(scsi::SenseBuilder{scsi::SenseKey::illegal_request, asc, {}, {}});
    respond(r);
}

void Channel::respond(Request& r) {
    return_held_receive(r);  // the command is over: its data was written
    const auto data = r.task.data_in();
    const std::uint64_t sent = std::min<std::uint64_t>(data.size(), r.data_in_described);
    wire::RspHeader header{};
    header.tag = r.tag;
    header.req_lim_delta = 1 + pending_credits_;
    header.status = static_cast<std::uint8_t>(r.task.status());
    // Residuals (SRP r16a 6.9): what the initiator described minus what moved.
    if (data.size() < r.data_in_described) {
        header.flags |= wire::kRspFlagDiUnder;
        header.data_in_res_cnt = static_cast<std::uint32_t>(r.data_in_described - data.size());
    } else if (data.size() > r.data_in_described) {
        header.flags |= wire::kRspFlagDiOver;
        header.data_in_res_cnt = static_cast<std::uint32_t>(data.size() - r.data_in_described);
    }
    if (r.data_out_moved < r.data_out_described) {
        header.flags |= wire::kRspFlagDoUnder;
        header.data_out_res_cnt = static_cast<std::uint32_t>(r.data_out_described - r.data_out_moved);
    }
    const auto rsp = response_buffer(r);
    auto length = wire::encode_rsp({rsp.address, rsp.length}, header, {}, r.task.sense());
    if (!length) return begin_close("response does not fit max_ti_iu_len");
    const fabric::LocalSegment iu{rsp.address, static_cast<std::uint32_t>(*length), rsp.lkey};

    fabric::PostResult posted;
    if (sent > 0) {
        auto bytes = std::span<std::uint8_t>(const_cast<std::uint8_t*>(data.data()), sent);
        if (!map_local(r, bytes, true)) {
            if (r.task.data_in().empty()) return respond(r);  // the copy faulted: answer with the sense
            return wait_for_resources(r, Resume::respond);
        }
        if (!r.plan.build(r.remote, r.local, sent, connection_->max_send_sge())) {
            spdlog::warn("[{}] data-in descriptors describe less than their total length", params_.name);
            r.data_in_described = 0;
            r.task.complete_check(scsi::SenseBuilder{scsi::SenseKey::illegal_request, kInvalidFieldInIu, {}, {}});
            return respond(r);
        }
        posted = connection_->post_rdma_write_then_send(r.index, r.plan.ops(), iu);
    } else {
        posted = connection_->post_send(r.index, iu);
    }
    if (!posted) {
        if (posted.error() == PostError::queue_full) return wait_for_resources(r, Resume::respond);
        return begin_close("cannot post the response");
    }
    pending_credits_ = 0;  // they travelled in req_lim_delta
    ++outstanding_chains_;
    stats_.bytes_read += sent;
    if (r.task.status() != scsi::Status::good) ++stats_.check_conditions;
    advance(r, RequestState::responding);
}

void Channel::wait_for_resources(Request& r, Resume what) {
    // Nothing of this request is posted: it waits in arrival order for
    // send-queue room or bounce memory (run_deferred).
    if (!r.in_deferred) {
        deferred_.push_back(r.index);
        r.in_deferred = true;
    }
    r.resume = what;
    advance(r, RequestState::waiting);
}

void Channel::run_deferred() {
    // Retry every waiting request once per pass, in arrival order; those
    // still short keep their order. No early stop: a request waiting for
    // bounce memory must not hold back requests that already hold theirs
    // and only wait for send-queue or io_uring room (they free the memory).
    std::size_t budget = deferred_.size();
    while (budget-- > 0 && !deferred_.empty()) {
        Request& r = requests_[deferred_.front()];
        deferred_.pop_front();
        r.in_deferred = false;
        if (r.state != RequestState::waiting) continue;  // aborted while waiting
        switch (r.resume) {
            case Resume::fetch_table: after_table_fetch_start(r); break;
            case Resume::read_data: start_data_out(r); break;
            case Resume::respond: respond(r); break;
            case Resume::respond_tmf: respond_tmf(r); break;
            case Resume::engine_buffer:
            case Resume::medium: drive(r); break;
            case Resume::range_lock: break;  // kept in blocked_, never in deferred_
        }
        // Still short: back in the queue (behind the ones not yet retried
        // this pass, ahead of nothing that arrived earlier than it).
        if (r.state == RequestState::waiting && r.resume != Resume::range_lock && !r.in_deferred) {
            deferred_.push_back(r.index);
            r.in_deferred = true;
        }
    }
}

}  // namespace srp::target
