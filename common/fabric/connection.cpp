#include "common/fabric/connection.h"

namespace srp::fabric {

std::string_view to_string(CompletionStatus status) noexcept {
    switch (status) {
        case CompletionStatus::success: return "success";
        case CompletionStatus::flushed: return "flushed";
        case CompletionStatus::remote_access_error: return "remote access error";
        case CompletionStatus::remote_operation_error: return "remote operation error";
        case CompletionStatus::transport_error: return "transport error";
        case CompletionStatus::local_error: return "local error";
    }
    return "unknown";
}

std::string_view to_string(PostError error) noexcept {
    switch (error) {
        case PostError::queue_full: return "send queue full";
        case PostError::disconnected: return "disconnected";
        case PostError::too_many_segments: return "too many scatter/gather segments";
        case PostError::empty_chain: return "empty chain (no work request to post)";
        case PostError::unsupported: return "not supported by this fabric";
    }
    return "unknown";
}

}  // namespace srp::fabric
