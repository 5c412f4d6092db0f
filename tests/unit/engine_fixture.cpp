#include "tests/unit/engine_fixture.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "srp_target/backstore/aligned_buffer.h"

namespace srp::test {

Engine::Engine(std::uint32_t block_size, std::uint64_t blocks, bool read_only, Medium kind,
               std::filesystem::path aptpl_file) {
    path = dir.file("lun0");
    if (read_only) {
        target::Backstore create(
            target::BackstoreConfig{path, blocks * block_size, false, target::BackstoreAccess::mapped, block_size});
        std::fill(create.bytes().begin(), create.bytes().end(), std::uint8_t{0x77});
    }
    if (kind == Medium::from_environment) {
        const char* env = std::getenv("SRP_TEST_MEDIUM");
        kind = env != nullptr && std::string(env) == "io" ? Medium::io : Medium::mapped;
    }
    const auto access = kind == Medium::mapped     ? target::BackstoreAccess::mapped
                        : kind == Medium::buffered ? target::BackstoreAccess::buffered
                                                   : target::BackstoreAccess::automatic;
    auto store = std::make_unique<target::Backstore>(
        target::BackstoreConfig{path, blocks * block_size, read_only, access, block_size});
    REQUIRE(store->is_memory() == (kind == Medium::mapped));
    target::LogicalUnitConfig config;
    config.block_size = block_size;
    config.serial = "TESTSERIAL01";
    config.aptpl_file = std::move(aptpl_file);
    unit = std::make_shared<target::LogicalUnit>(std::move(store), config);
    target.add_lun(0, unit);
    target.attach_nexus(kNexus, nexus_identity(kNexus));
    target.attach_nexus(kOtherNexus, nexus_identity(kOtherNexus));
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
    target::AlignedBuffer transport_buffer;  // what a transport's registered bounce memory would be
    for (int guard = 0; task.phase() != target::ScsiTask::Phase::complete; ++guard) {
        REQUIRE(guard < 100000);
        switch (task.phase()) {
            case target::ScsiTask::Phase::awaiting_buffer:
                transport_buffer = target::AlignedBuffer(task.buffer_bytes());
                target.provide_buffer(lun, task, transport_buffer.bytes());
                break;
            case target::ScsiTask::Phase::awaiting_data_out: {
                auto buffer = task.data_out_buffer();
                REQUIRE(data_out.size() >= buffer.size());
                std::memcpy(buffer.data(), data_out.data(), buffer.size());
                target.complete_data_out(lun, task);
                break;
            }
            case target::ScsiTask::Phase::awaiting_medium: {
                const auto op = task.medium_op();
                steps.push_back(op);
                std::optional<target::MediumResult> result;
                if (inject) result = inject(op);
                if (!result) result = op.store->execute(op);
                target.complete_medium(lun, task, *result);
                break;
            }
            case target::ScsiTask::Phase::blocked: FAIL("a task blocked on a range lock with nothing else running"); break;
            case target::ScsiTask::Phase::complete: break;
        }
    }
    EngineResult r;
    r.status = task.status();
    r.sense.assign(task.sense().begin(), task.sense().end());
    r.data.assign(task.data_in().begin(), task.data_in().end());
    r.zero_copy = task.buffer_is_backstore();
    r.data_out_unused = task.data_out_unused_bytes();
    return r;
}

std::vector<std::uint8_t> Engine::file_bytes(std::uint64_t offset, std::size_t length, bool direct) const {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
    REQUIRE(fd >= 0);
    target::AlignedBuffer buffer(length);
    const ssize_t n = ::pread(fd, buffer.data(), length, static_cast<off_t>(offset));
    ::close(fd);
    REQUIRE(n == static_cast<ssize_t>(length));
    return {buffer.data(), buffer.data() + length};
}

void Engine::flip_byte(std::uint64_t offset) {
    if (!io()) {
        medium()[offset] ^= 1;
        return;
    }
    auto byte = file_bytes(offset, 1);
    byte[0] ^= 1;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::pwrite(fd, byte.data(), 1, static_cast<off_t>(offset)) == 1);
    ::close(fd);
}

target::NexusIdentity nexus_identity(target::NexusId n) {
    target::NexusIdentity identity;
    identity.initiator.assign(24, 0);
    identity.initiator[0] = 0x04;  // PROTOCOL IDENTIFIER: SRP
    for (int i = 0; i < 8; ++i) identity.initiator[23 - i] = static_cast<std::uint8_t>(n >> (8 * i));
    identity.target_port.assign(16, 0);
    return identity;
}

std::vector<std::uint8_t> pattern(std::size_t bytes, std::uint8_t seed) {
    std::vector<std::uint8_t> v(bytes);
    for (std::size_t i = 0; i < bytes; ++i) v[i] = static_cast<std::uint8_t>(seed + i * 7 + (i >> 9));
    return v;
}

}  // namespace srp::test
