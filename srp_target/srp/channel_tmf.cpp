// SRP_TSK_MGMT (SRP r16a 6.7, SAM-5 7): ABORT TASK, ABORT TASK SET, CLEAR
// TASK SET, LOGICAL UNIT RESET, CLEAR ACA. ib_srp sends a TMF on the channel
// that carries the commands it concerns (and LUN RESET on every channel), so
// a TMF acts on this channel's requests. Its response waits until every
// aborted command's RDMA has completed: after the response the initiator may
// reuse the buffers, so nothing of ours may still write into them.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/wire/iu_encode.h"
#include "srp_target/srp/channel.h"

namespace srp::target {

using wire::TaskManagementFunction;
using wire::TaskManagementResponse;

void Channel::handle_tmf(Request& r, std::span<const std::uint8_t> iu) {
    ++stats_.task_management;
    r.is_tmf = true;
    if (iu.size() >= 16) std::memcpy(r.tag.data(), iu.data() + 8, r.tag.size());
    auto tmf = wire::parse_tsk_mgmt(iu);
    if (!tmf) {
        ++stats_.protocol_errors;
        if (iu.size() < 16) {
            ++pending_credits_;
            return release(r);
        }
        r.tmf_response = TaskManagementResponse::fields_invalid;
        return respond_tmf(r);
    }
    r.lun = scsi::decode_lun(tmf->lun);
    const auto function = static_cast<TaskManagementFunction>(tmf->tsk_mgmt_func);
    const bool known = function == TaskManagementFunction::abort_task ||
                       function == TaskManagementFunction::abort_task_set ||
                       function == TaskManagementFunction::clear_task_set ||
                       function == TaskManagementFunction::logical_unit_reset ||
                       function == TaskManagementFunction::clear_aca;
    LogicalUnit* unit = r.lun ? target_.find(*r.lun) : nullptr;
    spdlog::info("[{}] task management 0x{:02x} for LUN {}", params_.name, tmf->tsk_mgmt_func,
                 r.lun ? std::to_string(*r.lun) : std::string("?"));
    if (!known) {
        r.tmf_response = TaskManagementResponse::not_supported;
    } else if (unit == nullptr) {
        r.tmf_response = TaskManagementResponse::failed;  // no such logical unit
    } else {
        r.tmf_response = TaskManagementResponse::complete;
        // CLEAR ACA: we never establish ACA (NACA is refused), so nothing to clear.
        if (function != TaskManagementFunction::clear_aca)
            abort_matching(r, tmf->tsk_mgmt_func, tmf->task_tag, r.lun);
        if (function == TaskManagementFunction::logical_unit_reset) unit->reset(nexus_);
    }
    if (r.tmf_waiting_for == 0) respond_tmf(r);
    else r.state = RequestState::aborted;  // parked until the aborted commands drain
}

void Channel::abort_matching(Request& tmf, std::uint8_t function, const wire::Tag& task_tag,
                             std::optional<std::uint16_t> lun) {
    const bool one_task = function == static_cast<std::uint8_t>(TaskManagementFunction::abort_task);
    for (Request& victim : requests_) {
        if (&victim == &tmf || victim.is_tmf) continue;
        if (victim.state == RequestState::free || victim.state == RequestState::aborted) continue;
        if (one_task ? victim.tag != task_tag : victim.lun != lun) continue;
        if (victim.state == RequestState::responding && !victim.deferred) continue;  // already answered
        spdlog::info("[{}] aborting request {} in state {}", params_.name, victim.index, to_string(victim.state));
        if (victim.deferred) {  // nothing posted: end it now
            std::erase_if(deferred_, [&](const auto& d) { return d.first == victim.index; });
            victim.deferred = false;
            ++pending_credits_;
            release(victim);
            continue;
        }
        victim.state = RequestState::aborted;
        victim.aborted_by = tmf.index;
        ++tmf.tmf_waiting_for;
    }
}

void Channel::on_aborted_done(Request& r) {
    // The aborted command never gets a response: its credit rides on a later one.
    ++pending_credits_;
    if (r.aborted_by) {
        Request& tmf = requests_[*r.aborted_by];
        if (tmf.tmf_waiting_for > 0 && --tmf.tmf_waiting_for == 0 && !closing_) respond_tmf(tmf);
    }
    release(r);
}

void Channel::respond_tmf(Request& r) {
    wire::RspHeader header{};
    header.tag = r.tag;
    header.req_lim_delta = 1 + pending_credits_;
    const std::uint8_t response_data[4] = {0, 0, 0, static_cast<std::uint8_t>(r.tmf_response)};
    const auto rsp = response_buffer(r);
    auto length = wire::encode_rsp({rsp.address, rsp.length}, header, response_data, {});
    if (!length) return begin_close("TMF response does not fit");
    auto posted = connection_->post_send(r.index, fabric::LocalSegment{rsp.address, static_cast<std::uint32_t>(*length), rsp.lkey});
    if (!posted) {
        if (posted.error() == fabric::PostError::queue_full) {
            r.state = RequestState::free;  // no send room: retry as a deferred response
            return defer(r, Deferred::respond_tmf);
        }
        return begin_close("cannot post the TMF response");
    }
    pending_credits_ = 0;
    ++outstanding_chains_;
    r.state = RequestState::responding;
}

}  // namespace srp::target
