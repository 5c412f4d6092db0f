// Usable CPUs follow the process's affinity mask, and a poller thread runs
// at the nice it was given, or keeps the one it inherits.
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <optional>
#include <thread>

#include "common/sys/cpu_share.h"
#include "srp_target/service/poller.h"

using namespace srp;

namespace {
int nice_of(pid_t tid) {
    errno = 0;
    const int nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
    REQUIRE(errno == 0);
    return nice;
}
// Starts a poller with the given setting and returns the nice its thread runs at.
int poller_nice(std::optional<int> setting) {
    target::Poller poller("nice-test", [](target::Channel&) {});
    poller.set_nice(setting);
    poller.start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (poller.thread_id() == 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    REQUIRE(poller.thread_id() != 0);
    const int nice = nice_of(poller.thread_id());
    poller.stop();
    return nice;
}
}  // namespace

TEST_CASE("usable_cpus counts the process's affinity mask, not the machine nor a pinned thread", "[cpu]") {
    cpu_set_t mask;
    CPU_ZERO(&mask);
    REQUIRE(::sched_getaffinity(0, sizeof mask, &mask) == 0);
    const unsigned process = sys::usable_cpus();
    CHECK(process == static_cast<unsigned>(CPU_COUNT(&mask)));
    int first = 0;
    while (!CPU_ISSET(first, &mask)) ++first;  // a CPU this process may use
    unsigned from_pinned_thread = 0;
    int pinned = -1;
    std::thread t([&] {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(first, &one);
        pinned = pthread_setaffinity_np(pthread_self(), sizeof one, &one);
        from_pinned_thread = sys::usable_cpus();
    });
    t.join();
    REQUIRE(pinned == 0);
    CHECK(from_pinned_thread == process);  // the thread's own mask does not count
}

TEST_CASE("a poller thread runs at the nice it was given, and keeps the inherited one without a setting", "[cpu]") {
    const int base = nice_of(0);  // poller threads inherit this thread's nice
    CHECK(poller_nice(std::nullopt) == base);
    CHECK(poller_nice(std::min(base + 3, 19)) == std::min(base + 3, 19));
    CHECK(poller_nice(std::min(base + 11, 19)) == std::min(base + 11, 19));
    CHECK(nice_of(0) == base);  // the calling thread is not changed
    if (::geteuid() == 0 && base > -20) {  // lowering the nice needs privilege
        CHECK(poller_nice(base - 1) == base - 1);
    }
}
