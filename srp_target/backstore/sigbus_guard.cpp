#include "srp_target/backstore/sigbus_guard.h"

#include <setjmp.h>
#include <signal.h>
#include <ucontext.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>

namespace srp::target {
namespace {

// The guarded copy on this thread: where to jump back, and the two ranges a
// fault must lie in to be ours. volatile plus signal fences: the copy
// between setting and clearing the guard does not read it, so without them
// an optimiser may drop the first store (clang -O3 did, and the SIGBUS then
// killed the process).
struct Guard {
    sigjmp_buf jump;
    const std::uint8_t* ranges[2][2];  // [destination, source][begin, end)
    sigset_t mask_at_fault;            // the thread's mask when the fault hit
    volatile bool mask_known;          // set by the handler with mask_at_fault
};
thread_local Guard* volatile t_guard = nullptr;
struct sigaction g_previous{};

bool inside(const Guard& g, const void* address) noexcept {
    const auto* a = static_cast<const std::uint8_t*>(address);
    for (const auto& r : g.ranges)
        if (a >= r[0] && a < r[1]) return true;
    return false;
}

void on_sigbus(int signal, siginfo_t* info, void* context) {
    // Ours only when this thread is inside a guarded copy AND the fault is in
    // its ranges: a SIGBUS from a handler that interrupted the copy is not.
    Guard* guard = t_guard;
    if (guard != nullptr && info != nullptr && inside(*guard, info->si_addr)) {
        t_guard = nullptr;
        // The mask to go back to: sigsetjmp does not save it (a system call
        // per copy), and a handler that chains to ours (ThreadSanitizer's,
        // a crash reporter's) may run it with every signal blocked.
        if (context != nullptr) {
            guard->mask_at_fault = static_cast<ucontext_t*>(context)->uc_sigmask;
            guard->mask_known = true;
        }
        siglongjmp(guard->jump, 1);
    }
    // Not one of ours: behave as if we were never installed.
    if ((g_previous.sa_flags & SA_SIGINFO) != 0 && g_previous.sa_sigaction != nullptr)
        return g_previous.sa_sigaction(signal, info, context);
    if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN && g_previous.sa_handler != nullptr)
        return g_previous.sa_handler(signal);
    ::signal(SIGBUS, SIG_DFL);  // returning re-executes the access: the default action ends the process
}

void install_once() noexcept {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction action{};
        action.sa_sigaction = on_sigbus;
        action.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&action.sa_mask);
        ::sigaction(SIGBUS, &action, &g_previous);
    });
}

// Runs operation under the guard; false when a SIGBUS inside the ranges cut it short.
template <typename Operation>
bool guarded(void* destination, const void* source, std::size_t n, Operation operation) noexcept {
    install_once();
    Guard guard;
    const auto* d = static_cast<const std::uint8_t*>(destination);
    const auto* s = static_cast<const std::uint8_t*>(source);
    guard.ranges[0][0] = d;
    guard.ranges[0][1] = d + n;
    guard.ranges[1][0] = s;
    guard.ranges[1][1] = s == nullptr ? s : s + n;
    guard.mask_known = false;
    // savemask 0: saving the mask costs a system call per copy; the rare
    // fault path restores the mask the thread had when the fault hit.
    if (sigsetjmp(guard.jump, 0) != 0) {
        if (guard.mask_known) {
            ::pthread_sigmask(SIG_SETMASK, &guard.mask_at_fault, nullptr);
        } else {  // no context given: at least the next fault must reach us
            sigset_t bus;
            sigemptyset(&bus);
            sigaddset(&bus, SIGBUS);
            ::pthread_sigmask(SIG_UNBLOCK, &bus, nullptr);
        }
        return false;
    }
    t_guard = &guard;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    operation();
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t_guard = nullptr;
    return true;
}

}  // namespace

bool guarded_copy(void* destination, const void* source, std::size_t n) noexcept {
    return guarded(destination, source, n, [&] { std::memcpy(destination, source, n); });
}

bool guarded_fill(void* destination, int value, std::size_t n) noexcept {
    return guarded(destination, nullptr, n, [&] { std::memset(destination, value, n); });
}

}  // namespace srp::target
