#include "srp_target/srp/request_state.h"

namespace srp::target {

const char* to_string(RequestState state) noexcept {
    switch (state) {
        case RequestState::free: return "free";
        case RequestState::fetching_table: return "fetching_table";
        case RequestState::reading_data: return "reading_data";
        case RequestState::responding: return "responding";
        case RequestState::awaiting_medium: return "awaiting_medium";
        case RequestState::waiting: return "waiting";
        case RequestState::aborting: return "aborting";
        case RequestState::tmf_waiting: return "tmf_waiting";
    }
    return "unknown";
}

const char* to_string(Resume resume) noexcept {
    switch (resume) {
        case Resume::fetch_table: return "fetch_table";
        case Resume::read_data: return "read_data";
        case Resume::respond: return "respond";
        case Resume::respond_tmf: return "respond_tmf";
        case Resume::engine_buffer: return "engine_buffer";
        case Resume::medium: return "medium";
        case Resume::range_lock: return "range_lock";
    }
    return "unknown";
}

bool allowed_transition(RequestState from, RequestState to) noexcept {
    using S = RequestState;
    if (to == S::free) return true;  // release: from any state (errors, dropped IUs, drained aborts)
    switch (from) {
        case S::free: return to == S::fetching_table || to == S::reading_data || to == S::responding ||
                             to == S::waiting || to == S::tmf_waiting || to == S::awaiting_medium;
        case S::fetching_table: return to == S::reading_data || to == S::responding || to == S::waiting ||
                                       to == S::aborting;
        case S::reading_data: return to == S::responding || to == S::waiting || to == S::aborting ||
                                     to == S::awaiting_medium;
        case S::awaiting_medium: return to == S::awaiting_medium || to == S::fetching_table ||
                                        to == S::responding || to == S::waiting || to == S::aborting;
        case S::waiting: return to == S::fetching_table || to == S::reading_data || to == S::responding ||
                                to == S::waiting || to == S::awaiting_medium;
        case S::tmf_waiting: return to == S::responding || to == S::waiting;
        case S::responding:
        case S::aborting: return false;  // only to free
    }
    return false;
}

bool has_posted_work(RequestState state) noexcept {
    return state == RequestState::fetching_table || state == RequestState::reading_data ||
           state == RequestState::responding || state == RequestState::aborting ||
           state == RequestState::awaiting_medium;
}

}  // namespace srp::target
