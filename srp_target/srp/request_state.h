// The life of one request context on a target channel: the only states it
// can be in and the only transitions between them (house rule 7). Channel
// advances a request solely through Channel::advance(), which checks each
// move against allowed_transition() and logs it by name at trace level.
//
//   free -> fetching_table -> reading_data -> responding -> free
//   ... -> awaiting_medium (-> awaiting_medium ...) -> ...   (io backstores:
//        each medium step of the engine runs on the poller's io_uring)
//   free -> tmf_waiting -> responding -> free          (task management)
//   any working state -> waiting -> (the state it waited to enter)
//   fetching_table | reading_data | awaiting_medium -> aborting -> free
//        (aborted by a TMF with RDMA or medium I/O still in flight: no
//        response; freed when that work completes, so the context and its
//        buffers are never reused under a running I/O)
//   any state -> free on a transport error or a dropped IU
#pragma once

#include <cstdint>

namespace srp::target {

enum class RequestState : std::uint8_t {
    free,            // on the free list
    fetching_table,  // RDMA READ of an external descriptor table posted
    reading_data,    // RDMA READ of DATA-OUT posted
    responding,      // SRP_RSP posted (behind any RDMA WRITE of DATA-IN)
    awaiting_medium, // a medium step (read, write, flush, ...) in flight on the poller's queue
    waiting,         // nothing posted: queued for send-queue room, bounce memory, the
                     // medium queue, or a busy LBA range lock
    aborting,        // aborted by task management; its posted RDMA must drain first
    tmf_waiting,     // a TMF whose victims' RDMA has not drained yet
};

// What a waiting request does once resources are available.
enum class Resume : std::uint8_t { fetch_table, read_data, respond, respond_tmf, engine_buffer, medium, range_lock };

const char* to_string(RequestState state) noexcept;
const char* to_string(Resume resume) noexcept;
bool allowed_transition(RequestState from, RequestState to) noexcept;
// True while the request has RDMA or a send posted on the connection, or
// medium I/O in flight.
bool has_posted_work(RequestState state) noexcept;

}  // namespace srp::target
