// SRP_TSK_MGMT (SRP r16a 6.7, SAM-5 7): ABORT TASK, ABORT TASK SET, CLEAR
// TASK SET, LOGICAL UNIT RESET, CLEAR ACA.
//
// Task management acts on the logical unit, not on the channel it arrived
// on: ib_srp sends LOGICAL UNIT RESET on one channel only, while the
// commands it must stop may run on any channel. So a TMF fans out through
// the session registry: ABORT TASK and ABORT TASK SET to every channel of
// the issuing I_T nexus, CLEAR TASK SET and LOGICAL UNIT RESET (which affect
// every I_T nexus, SAM-5 7.4 and 7.7, with the shared task set of TST 000b)
// to every channel. Each channel aborts its matching tasks on its own
// poller thread. The TMF is answered only when every victim's posted RDMA
// has completed, including victims an earlier TMF already aborted: after
// the response the initiator may reuse its buffers and newer writes may
// reach the same blocks, so nothing of ours may still move data.
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
        if (iu.size() < 16) {  // no tag to answer to: drop it, give the credit back later
            spdlog::warn("[{}] SRP_TSK_MGMT of {} bytes dropped", params_.name, iu.size());
            ++pending_credits_;
            return release(r);
        }
        spdlog::warn("[{}] SRP_TSK_MGMT of {} bytes: REQUEST FIELDS INVALID", params_.name, iu.size());
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
        if (function != TaskManagementFunction::clear_aca) {
            AbortScope scope;
            scope.function = tmf->tsk_mgmt_func;
            scope.nexus = nexus_;
            scope.lun = *r.lun;
            scope.task_tag = tmf->task_tag;
            scope.all_nexuses = function == TaskManagementFunction::clear_task_set ||
                                function == TaskManagementFunction::logical_unit_reset;
            fan_out_tmf(r, scope);
        }
        if (function == TaskManagementFunction::logical_unit_reset) unit->reset(nexus_);
    }
    if (!r.tmf_tracker || r.tmf_tracker->complete()) return respond_tmf(r);
    advance(r, RequestState::tmf_waiting);  // answered by poll_task_management()
    parked_tmfs_.push_back(r.index);
}

void Channel::fan_out_tmf(Request& tmf, const AbortScope& scope) {
    tmf.tmf_tracker = std::make_shared<TmfTracker>(control_);  // holds one guard count
    const AbortOrder order{scope, tmf.tmf_tracker};
    for (const auto& channel : registry_.channels(scope.all_nexuses ? std::nullopt : std::optional(nexus_))) {
        if (channel.get() == control_.get()) continue;
        tmf.tmf_tracker->add();
        channel->post_abort(order);
    }
    tmf.tmf_tracker->add();
    apply_abort(order);  // this channel's own tasks, at once
    tmf.tmf_tracker->done();  // the guard
}

void Channel::apply_abort(const AbortOrder& order) {
    const AbortScope& scope = order.scope;
    const bool one_task = scope.function == static_cast<std::uint8_t>(TaskManagementFunction::abort_task);
    bool aborted_any = false;
    if (scope.all_nexuses || scope.nexus == nexus_) {
        for (Request& victim : requests_) {
            if (victim.is_tmf || victim.state == RequestState::free) continue;
            if (victim.lun != scope.lun || (one_task && victim.tag != scope.task_tag)) continue;
            if (victim.state == RequestState::responding) {
                // Already answered, but its RDMA WRITE of DATA-IN may still be
                // in flight: the TMF's answer (possibly on another channel,
                // with no ordering against this QP) waits for it too.
                order.tracker->add();
                if (victim.abort_waiters.empty()) ++waited_responses_;  // its completion must wake us now
                victim.abort_waiters.push_back(order.tracker);
                continue;
            }
            spdlog::info("[{}] aborting request {} in state {} (task management 0x{:02x})", params_.name, victim.index,
                         to_string(victim.state), scope.function);
            aborted_any = true;
            if (victim.state == RequestState::waiting) {  // nothing posted: it ends now
                std::erase(deferred_, victim.index);
                victim.in_deferred = false;
                std::erase(blocked_, victim.index);
                ++pending_credits_;  // the aborted command's credit rides on a later response
                release(victim);
                continue;
            }
            if (victim.state != RequestState::aborting) advance(victim, RequestState::aborting);
            order.tracker->add();
            victim.abort_waiters.push_back(order.tracker);
        }
    }
    // The control mode page reports TAS=0: a nexus whose tasks another
    // nexus's CLEAR TASK SET aborted learns it from a unit attention (SPC-4
    // 7.5.7). LOGICAL UNIT RESET raises its own (engine reset()).
    if (aborted_any && nexus_ != scope.nexus &&
        scope.function == static_cast<std::uint8_t>(TaskManagementFunction::clear_task_set))
        if (LogicalUnit* unit = target_.find(scope.lun))
            unit->raise_unit_attention(nexus_, scsi::Asc::commands_cleared_by_another_initiator);
    order.tracker->done();  // this channel has scanned
}

void Channel::finish_abort(Request& r) {
    // The aborted command's RDMA has drained; it never gets a response, so
    // its credit rides on a later one.
    ++pending_credits_;
    release(r);  // acknowledges every TMF waiting for it
}

void Channel::poll_task_management() {
    if (control_->has_abort_orders())
        for (const auto& order : control_->take_abort_orders()) apply_abort(order);
    if (parked_tmfs_.empty() || closing_) return;
    std::erase_if(parked_tmfs_, [&](std::uint32_t index) {
        Request& tmf = requests_[index];
        if (!tmf.tmf_tracker->complete()) return false;
        respond_tmf(tmf);
        return true;
    });
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
        if (posted.error() == fabric::PostError::queue_full) return wait_for_resources(r, Resume::respond_tmf);
        return begin_close("cannot post the TMF response");
    }
    pending_credits_ = 0;
    ++outstanding_chains_;
    advance(r, RequestState::responding);
}

}  // namespace srp::target
