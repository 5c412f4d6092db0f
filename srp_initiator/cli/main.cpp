// srp_initiator: a user-space SRP initiator over RDMA/CM.
#include <iostream>

#include "srp_initiator/cli/cli.h"

int main(int argc, char** argv) {
    using namespace srp::initiator;
    bool help = false;
    auto options = cli::parse_options(argc, argv, std::cout, std::cerr, help);
    if (!options) return help ? cli::kExitOk : cli::kExitUsage;
    try {
        auto session = Session::login(verbs_connector(options->address, options->port, options->connect_timeout),
                                      options->session);
        if (!session) return cli::report_login_failure(session.error(), std::cerr);
        return cli::run_command(**session, *options, std::cout, std::cerr);
    } catch (const std::exception& e) {
        std::cerr << "srp_initiator: " << e.what() << "\n";
        return cli::kExitTransport;
    }
}
