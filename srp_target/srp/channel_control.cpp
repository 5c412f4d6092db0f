#include "srp_target/srp/channel_control.h"

#include <utility>

namespace srp::target {

void TmfTracker::done() noexcept {
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1 && owner_) owner_->wake();
}

ChannelControl::~ChannelControl() { close_inbox(); }

void ChannelControl::request_disconnect(const char* reason) noexcept {
    reason_.store(reason, std::memory_order_release);
    if (!disconnect_requested_.exchange(true, std::memory_order_acq_rel)) wake();
}

void ChannelControl::request_logout(std::uint32_t reason_code) noexcept {
    logout_reason_.store(reason_code, std::memory_order_release);
    if (!logout_requested_.exchange(true, std::memory_order_acq_rel)) wake();
}

void ChannelControl::post_abort(AbortOrder order) {
    bool queued = false;
    {
        std::lock_guard lock(inbox_mutex_);
        if (!inbox_closed_) {
            inbox_.push_back(order);
            abort_pending_.store(true, std::memory_order_release);
            queued = true;
        }
    }
    if (queued) wake();
    else order.tracker->done();  // closed: the channel has no tasks left to abort
}

std::vector<AbortOrder> ChannelControl::take_abort_orders() {
    std::lock_guard lock(inbox_mutex_);
    abort_pending_.store(false, std::memory_order_relaxed);
    return std::exchange(inbox_, {});
}

void ChannelControl::close_inbox() noexcept {
    std::vector<AbortOrder> left;
    {
        std::lock_guard lock(inbox_mutex_);
        inbox_closed_ = true;
        left.swap(inbox_);
        abort_pending_.store(false, std::memory_order_relaxed);
    }
    for (auto& order : left) order.tracker->done();
}

}  // namespace srp::target
