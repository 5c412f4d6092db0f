// srp_target: serves LUNs over the SCSI RDMA Protocol to the Linux ib_srp
// initiator (and any SRP initiator) over RDMA/CM.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>

#include "srp_target/backstore/backstore.h"
#include "srp_target/service/target_service.h"

int main(int argc, char** argv) {
    using namespace srp::target;
    TargetConfig config;
    try {
        config = parse_target_config(argc, argv);
    } catch (const ConfigError& e) {
        std::cerr << "srp_target: " << e.what() << "\n(see srp_target --help)\n";
        return 2;
    }
    if (config.help) {
        std::cout << "usage: srp_target [options]\n" << config.help_text;
        return 0;
    }
    spdlog::set_level(spdlog::level::from_str(config.log_level));
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    // Block the signals before any thread starts; the main loop reads them from a signalfd.
    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGINT, SIGTERM, SIGUSR1}) sigaddset(&signals, s);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    try {
        TargetService service(std::move(config));
        return service.run();
    } catch (const BackstoreError& e) {
        spdlog::error("backstore: {}", e.what());
    } catch (const std::system_error& e) {
        spdlog::error("{}", e.what());
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
    }
    return 1;
}
