// A SIGBUS guard for CPU copies to and from a memory backstore's mapping.
//
// A mapped tmpfs/hugetlbfs file raises SIGBUS when a page cannot be provided
// (tmpfs full, file truncated behind our back, hugetlbfs pool exhausted).
// guarded_copy() turns that into a false return instead of a dead process:
// a process-wide SA_SIGINFO handler siglongjmps back into the copying
// thread when, and only when, that thread is inside guarded_copy().
//
// Limits:
//  - covers only copies made through guarded_copy() on the calling thread;
//    a fault anywhere else keeps the default action (the previous handler,
//    or the process ends as before);
//  - the HCA's own accesses (RDMA straight into a registered mapping) are
//    not CPU faults: pinned pages stay valid, a truncation is seen only by
//    the next CPU access or refresh_size();
//  - the copy is abandoned part way: the destination holds a prefix;
//  - nothing inside the guard may hold a lock or allocate (memcpy does not);
//  - only a fault whose address lies in the copy's source or destination
//    is caught; SIGBUS must not be blocked on the calling thread (the
//    kernel would then end the process on the first fault);
//  - a handler installed later that chains to ours (ThreadSanitizer's
//    does) may run it with other signals blocked: the fault path restores
//    the thread's signal mask from the fault's context.
#pragma once

#include <cstddef>

namespace srp::target {

// Copies n bytes; false when a SIGBUS interrupted the copy.
bool guarded_copy(void* destination, const void* source, std::size_t n) noexcept;
// Sets n bytes to value; false when a SIGBUS interrupted it.
bool guarded_fill(void* destination, int value, std::size_t n) noexcept;

}  // namespace srp::target
