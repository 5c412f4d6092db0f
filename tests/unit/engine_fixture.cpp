#include "tests/unit/engine_fixture.h"

#include <algorithm>
#include <cstring>

namespace srp::test {

Engine::Engine(std::uint32_t block_size, std::uint64_t blocks, bool read_only) {
    const std::string path = dir.file("lun0");
    if (read_only) {
        target::Backstore create(target::BackstoreConfig{path, blocks * block_size, false});
        std::fill(create.bytes().begin(), create.bytes().end(), std::uint8_t{0x77});
    }
    auto store = std::make_unique<target::Backstore>(target::BackstoreConfig{path, blocks * block_size, read_only});
    target::LogicalUnitConfig config;
    config.block_size = block_size;
    config.serial = "TESTSERIAL01";
    unit = std::make_shared<target::LogicalUnit>(std::move(store), config);
    target.add_lun(0, unit);
    target.attach_nexus(kNexus);
    target.attach_nexus(kOtherNexus);
    // Consume the power-on unit attention so tests start clean.
    for (auto nexus : {kNexus, kOtherNexus}) {
        auto r = run(hex("00 00 00 00 00 00"), {}, nexus);
        REQUIRE(r.status == scsi::Status::check_condition);
        REQUIRE(r.asc() == 0x2900);
    }
}

EngineResult Engine::run(const std::vector<std::uint8_t>& cdb, const std::vector<std::uint8_t>& data_out,
                         target::NexusId nexus, std::optional<std::uint64_t> expected_out,
                         std::optional<std::uint16_t> lun) {
    auto task = target.submit(nexus, lun, cdb, expected_out.value_or(data_out.size()));
    if (task.phase() == target::ScsiTask::Phase::awaiting_data_out) {
        auto buffer = task.data_out_buffer();
        REQUIRE(data_out.size() >= buffer.size());
        std::memcpy(buffer.data(), data_out.data(), buffer.size());
        target.complete_data_out(lun, task);
    }
    REQUIRE(task.phase() == target::ScsiTask::Phase::complete);
    EngineResult r;
    r.status = task.status();
    r.sense.assign(task.sense().begin(), task.sense().end());
    r.data.assign(task.data_in().begin(), task.data_in().end());
    r.zero_copy = task.buffer_is_backstore();
    r.data_out_unused = task.data_out_unused_bytes();
    return r;
}

std::vector<std::uint8_t> pattern(std::size_t bytes, std::uint8_t seed) {
    std::vector<std::uint8_t> v(bytes);
    for (std::size_t i = 0; i < bytes; ++i) v[i] = static_cast<std::uint8_t>(seed + i * 7 + (i >> 9));
    return v;
}

}  // namespace srp::test
