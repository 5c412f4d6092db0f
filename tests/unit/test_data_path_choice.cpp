// The data path choice: a pure function of ODP capabilities and backstore kind.
#include <catch2/catch.hpp>

#include "srp_target/service/data_path_choice.h"

using namespace srp::target;

TEST_CASE("memory backstores are registered whatever the device offers", "[data-path]") {
    for (bool odp : {false, true}) {
        const OdpCapabilities caps{odp, odp, odp};
        CHECK(choose_data_path(caps, true, BackstoreKind::anonymous).path == DataPath::registered_mapping);
        CHECK(choose_data_path(caps, true, BackstoreKind::file).path == DataPath::registered_mapping);
    }
}

TEST_CASE("a file backstore uses ODP only with RC RDMA READ and WRITE on demand", "[data-path]") {
    CHECK(choose_data_path({true, true, true}, false, BackstoreKind::file).path == DataPath::odp_mapping);
    CHECK(choose_data_path({true, true, false}, false, BackstoreKind::file).path == DataPath::io_uring_bounce);
    CHECK(choose_data_path({true, false, true}, false, BackstoreKind::file).path == DataPath::io_uring_bounce);
    CHECK(choose_data_path({false, false, false}, false, BackstoreKind::file).path == DataPath::io_uring_bounce);
    CHECK(std::string(choose_data_path({}, false, BackstoreKind::file).reason) == "no on-demand paging on this device");
}

TEST_CASE("block devices always go through io_uring", "[data-path]") {
    CHECK(choose_data_path({true, true, true}, false, BackstoreKind::block_device).path == DataPath::io_uring_bounce);
}

TEST_CASE("the ODP path is not implemented yet: it runs as io_uring", "[data-path]") {
    CHECK(implemented(DataPath::odp_mapping) == DataPath::io_uring_bounce);
    CHECK(implemented(DataPath::registered_mapping) == DataPath::registered_mapping);
}
