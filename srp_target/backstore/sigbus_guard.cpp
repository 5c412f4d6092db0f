#include "srp_target/backstore/sigbus_guard.h"

#include <setjmp.h>
#include <signal.h>

#include <atomic>
#include <cstring>
#include <mutex>

namespace srp::target {
namespace {

// volatile plus signal fences: the copy between setting and clearing the
// guard does not read it, so without them an optimiser may drop the first
// store (clang -O3 did, and the SIGBUS then killed the process).
thread_local sigjmp_buf* volatile t_guard = nullptr;
struct sigaction g_previous{};

void on_sigbus(int signal, siginfo_t* info, void* context) {
    if (sigjmp_buf* guard = t_guard) {
        t_guard = nullptr;
        siglongjmp(*guard, 1);
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

}  // namespace

bool guarded_copy(void* destination, const void* source, std::size_t n) noexcept {
    install_once();
    sigjmp_buf guard;
    // savemask 0: saving the signal mask is a system call per copy, and the
    // handler runs with SA_NODEFER and an empty sa_mask, so jumping out of
    // it leaves the thread's mask as it was.
    if (sigsetjmp(guard, 0) != 0) return false;  // the handler jumped back: the copy faulted
    t_guard = &guard;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    std::memcpy(destination, source, n);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t_guard = nullptr;
    return true;
}

bool guarded_fill(void* destination, int value, std::size_t n) noexcept {
    install_once();
    sigjmp_buf guard;
    if (sigsetjmp(guard, 0) != 0) return false;  // as in guarded_copy
    t_guard = &guard;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    std::memset(destination, value, n);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t_guard = nullptr;
    return true;
}

}  // namespace srp::target
