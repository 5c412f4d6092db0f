// Usable CPUs follow the affinity mask, and a poller thread runs at the
// nice it was given.
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "common/sys/cpu_share.h"
#include "srp_target/service/poller.h"

using namespace srp;

TEST_CASE("usable_cpus counts the affinity mask, not the machine", "[cpu]") {
    unsigned pinned = 0, machine = 0;
    std::thread t([&] {
        machine = sys::usable_cpus();
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(0, &one);
        REQUIRE(pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0);
        pinned = sys::usable_cpus();
    });
    t.join();
    CHECK(pinned == 1);
    CHECK(machine >= 1);
    CHECK(machine == sys::usable_cpus());  // this thread's mask was left alone
}

TEST_CASE("a poller thread runs at the nice it was given", "[cpu]") {
    for (int nice : {0, 3, 11}) {
        INFO("nice " << nice);
        target::Poller poller("nice-test", [](target::Channel&) {});
        poller.set_nice(nice);
        poller.start();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (poller.thread_id() == 0 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        REQUIRE(poller.thread_id() != 0);
        errno = 0;
        const int applied = ::getpriority(PRIO_PROCESS, static_cast<id_t>(poller.thread_id()));
        REQUIRE(errno == 0);
        CHECK(applied == nice);
        CHECK(::getpriority(PRIO_PROCESS, 0) == 0);  // the calling thread is not changed
        poller.stop();
    }
}
